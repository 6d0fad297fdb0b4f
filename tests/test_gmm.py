"""Batched EM equals scikit-learn's EM; mode metrics count what they claim."""

import numpy as np
import pytest
from helpers import column, trial_config
from sklearn.mixture import GaussianMixture as SkGMM

from madray.models import em
from madray.models.gmm import GaussianMixture, grid_modes
from madray.trial import run_trial


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tol=0: runs all max_iter steps
def test_em_matches_scikit_learn_from_the_same_start():
    rng = np.random.default_rng(0)
    modes = grid_modes(3, 2.0)
    x = modes[rng.integers(9, size=(2, 400))] + 0.3 * rng.standard_normal((2, 400, 2))
    init = em.initial_mixture(x, 9, rng, 1e-6)
    ours = em.fit_mixture(x, init, max_iter=25, tol=0.0, reg_covar=1e-6)
    for r in range(2):
        sk = SkGMM(9, covariance_type="full", reg_covar=1e-6, max_iter=25, tol=0.0,
                   weights_init=init["weights"][r], means_init=init["means"][r],
                   precisions_init=np.linalg.inv(init["covs"][r])).fit(x[r])
        np.testing.assert_allclose(ours["means"][r], sk.means_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ours["covs"][r], sk.covariances_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ours["weights"][r], sk.weights_, rtol=1e-8, atol=1e-12)


def test_log_density_matches_scipy():
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 5, 2))
    means = rng.standard_normal((1, 3, 2))
    a = rng.standard_normal((3, 2, 2))
    covs = (a @ a.transpose(0, 2, 1) + 0.1 * np.eye(2))[None]
    ours = em.log_gaussians(x, means, covs)[0]
    for k in range(3):
        np.testing.assert_allclose(ours[:, k], multivariate_normal(means[0, k], covs[0, k]).logpdf(x[0]), rtol=1e-12)


def test_sampling_matches_mixture_moments():
    rng = np.random.default_rng(2)
    mix = {"weights": np.array([[0.2, 0.8]]), "means": np.array([[[0.0, 0.0], [3.0, 1.0]]]),
           "covs": np.array([[np.eye(2), np.diag([0.5, 2.0])]])}
    x = em.sample_mixture(mix, 200_000, 0.5, rng)[0]
    mean = 0.8 * np.array([3.0, 1.0])
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.02)
    # law of total variance with covariances scaled by λ = 0.5
    within = 0.5 * (0.2 * np.eye(2) + 0.8 * np.diag([0.5, 2.0]))
    between = 0.2 * np.outer(mean, mean) + 0.8 * np.outer(np.array([3.0, 1.0]) - mean, np.array([3.0, 1.0]) - mean)
    np.testing.assert_allclose(np.cov(x, rowvar=False), within + between, atol=0.03)


def test_mode_stats_on_real_and_on_collapsed_samples():
    cfg = trial_config(family="gmm", replicates=2, generations=1, n_ini=100)
    fam = GaussianMixture(cfg)
    real = fam.sample_real(2500, np.random.default_rng(3))["x"]
    covered, quality = fam.mode_stats(real)
    assert list(covered) == [25, 25]
    assert np.all(quality > 0.99)  # 3σ in 2D holds 98.9% of an isotropic Gaussian's mass
    one_mode = np.broadcast_to(fam.modes[7], (2, 100, 2)) + 0.01
    covered, quality = fam.mode_stats(one_mode)
    assert list(covered) == [1, 1] and np.all(quality == 1.0)
    far = np.full((2, 100, 2), 1.0)  # between modes
    covered, quality = fam.mode_stats(far)
    assert list(covered) == [0, 0] and np.all(quality == 0.0)


@pytest.mark.slow
def test_gmm_fully_synthetic_loop_loses_modes():
    """MAD §4: generation 1 (2000 real samples) finds the modes; small synthetic sets lose them."""
    gens, reps = 15, 4
    cfg = trial_config(family="gmm", loop="fully_synthetic", n_ini=2000, n_s=100, generations=gens,
                       replicates=reps, seed=1)
    covered = column(run_trial(cfg), "modes_covered", gens, reps)
    assert covered[0].mean() >= 23  # EM with k-means++ seeding finds nearly all 25 modes
    assert covered[-1].mean() < covered[0].mean() - 3


# --------------------------------------------------------------------------- precision/recall in sample space (MAD Fig. 12)
def brute_prdc(fake: np.ndarray, real: np.ndarray, k: int) -> dict[str, float]:
    """Kynkäänniemi et al. / Naeem et al. by brute force: radius = k-th neighbour (self excluded), inside = `<=`."""
    sq = lambda a, b: ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)  # noqa: E731
    r_real, r_fake = np.sort(sq(real, real), axis=1)[:, k], np.sort(sq(fake, fake), axis=1)[:, k]
    d = sq(fake, real)
    in_real = d <= r_real[None, :]
    return {"precision": in_real.any(axis=1).mean(), "recall": (d <= r_fake[:, None]).any(axis=0).mean(),
            "density": in_real.sum(axis=1).mean() / k, "coverage": in_real.any(axis=0).mean()}


def test_precision_recall_density_coverage_against_held_real_samples():
    from madray.metrics import prdc
    from madray.seeding import Stream, rng
    from madray.trial import Trial

    cfg = trial_config(family="gmm", loop="fully_synthetic", n_ini=300, n_s=300, generations=2, replicates=2, seed=3,
                       params={"gmm": {"em_iters": 20, "n_eval": 200, "n_ref": 300, "k": 4}})
    trial = Trial(cfg)
    rows = trial.step() + trial.step()
    fam = trial.family
    held = fam.shared.features
    # the held set is the truth's: every point within 6 std of a grid mode, the modes about equally used
    d2 = ((held[:, None, :] - grid_modes(5, 2.0)[None]) ** 2).sum(-1)
    assert held.shape == (300, 2) and np.sqrt(d2.min(axis=1)).max() < 6 * 0.05
    assert np.bincount(d2.argmin(axis=1), minlength=25).min() >= 2
    fake = fam.evaluation_sample(trial.state, rng(cfg.seed, 2, Stream.EVALUATE))["x"]  # the points generation 2 scored
    for r in range(2):
        row = next(x for x in rows if x["generation"] == 2 and x["replicate"] == r)
        fast, brute = prdc(fake[r], held, k=4), brute_prdc(fake[r], held, 4)
        for metric in ("precision", "recall", "density", "coverage"):
            assert row[metric] == pytest.approx(fast[metric], abs=1e-12) == pytest.approx(brute[metric], abs=1e-12)
    # shared once per trial group: trials with the same truth and reference size get equal keys
    other = trial_config(family="gmm", loop="fresh_data", n_r=50, n_ini=300, params={"gmm": {"n_ref": 300, "k": 4, "n_eval": 100}})
    assert GaussianMixture.shared_key(other) == GaussianMixture.shared_key(cfg)


def test_prdc_only_when_wanted():
    from madray.trial import Trial

    cfg = trial_config(family="gmm", n_ini=100, n_s=100, generations=1, replicates=1, metrics=["modes_covered"],
                       params={"gmm": {"em_iters": 5, "n_eval": 50}})
    trial = Trial(cfg)
    trial.step()
    computed = trial.family.evaluate(trial.state, np.random.default_rng(0))
    assert set(computed) == {"modes_covered", "high_quality_frac"}  # no k-NN searches were run
