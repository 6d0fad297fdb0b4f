"""The readings madray takes where the papers leave a choice (docs/deviations.md), each checked against an
independent computation: n_e's distance (E[W2²] or E[W2]), the i.i.d. reference of the trial's own estimator,
and the search statistic's distance option."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import trial_config

from madray.analysis import effective_sample_size
from madray.analysis.reference import FrechetReference, W2Reference
from madray.errors import ConfigError
from madray.metrics.frechet import frechet_distance
from madray.models.gaussian import fit_gaussian
from madray.search.spec import parse_search
from madray.search.statistic import estimate
from madray.trial import run_trial


def fresh(n_r, n_s, lam=1.0, d=2, generations=40, replicates=400, estimator="unbiased"):
    cfg = trial_config(loop="fresh_data", n_ini=100, n_r=n_r, n_s=n_s, lam=lam, generations=generations,
                       replicates=replicates, params={"gaussian": {"d": d, "estimator": estimator}})
    return pd.DataFrame(run_trial(cfg))


def brute_force(d, n, draws, ddof, seed=0):
    """Per draw: W2² of the fit to n real samples, by fitting real samples (no Bartlett, no χ² shortcut)."""
    x = np.random.default_rng(seed).standard_normal((draws, n, d))
    mean, cov = fit_gaussian(x, "unbiased" if ddof else "mle")
    return np.asarray(frechet_distance(mean, cov, np.zeros(d), np.eye(d)))


@pytest.mark.parametrize("ddof", [1, 0])
def test_references_match_fits_to_real_samples(ddof):
    d, n, draws = 2, 12, 40_000
    fd = brute_force(d, n, draws, ddof)
    for reference, values in ((FrechetReference(d, draws=20_000, ddof=ddof), fd), (W2Reference(d, draws=20_000, ddof=ddof), np.sqrt(fd))):
        mean, se = reference.expected(n)
        assert mean == pytest.approx(values.mean(), abs=4 * np.hypot(se, values.std() / np.sqrt(draws)))


def test_mle_trial_gets_n_e_equal_n_r_without_synthetic_data():
    """n_s = 0: every generation is an i.i.d. MLE fit of n_r samples, so n_e/n_r = 1 against the MLE reference."""
    row = effective_sample_size(fresh(30, 0, generations=10, replicates=600, estimator="mle")).iloc[0]
    assert abs(row["ratio"] - 1) < 4 * row["ratio_se"] and row["ratio_se"] < 0.02


def test_w2_and_w2_squared_give_the_documented_ratios():
    """docs/deviations.md: d = 2, λ = 0.9, n_r = 50, n_s = 200: 0.945 (E[W2²]) against 0.883 (E[W2])."""
    df = fresh(50, 200, lam=0.9)
    sq, w2 = (effective_sample_size(df, distance=k).iloc[0] for k in ("w2_squared", "w2"))
    assert sq["ratio"] == pytest.approx(0.945, abs=4 * sq["ratio_se"])
    assert w2["ratio"] == pytest.approx(0.883, abs=4 * w2["ratio_se"])
    assert sq["ratio"] - w2["ratio"] > 4 * np.hypot(sq["ratio_se"], w2["ratio_se"])
    assert effective_sample_size(df, distance="frechet").iloc[0]["ratio"] == sq["ratio"]  # the default is w2_squared


SPEC = {"name": "b", "family": "gaussian", "loop": "fresh_data", "generations": 6, "replicates": 50, "n_ini": 50,
        "n_r": 20, "lam": 0.9, "params": {"gaussian": {"d": 2}},
        "search": {"knob": "n_s", "range": [2, 200], "threshold": 1.0}}


def test_search_statistic_offers_both_distances():
    for statistic in ("ratio", "ratio:w2_squared", "ratio:w2"):
        parse_search({**SPEC, "search": {**SPEC["search"], "statistic": statistic}})
    with pytest.raises(ConfigError, match="ratio:w2"):
        parse_search({**SPEC, "search": {**SPEC["search"], "statistic": "ratio:w3"}})
    df = fresh(50, 200, lam=0.9, generations=20, replicates=100)
    for statistic, distance in (("ratio", "w2_squared"), ("ratio:w2", "w2")):
        assert estimate(df, statistic, 0.95).value == effective_sample_size(df, distance=distance).iloc[0]["ratio"]


def test_gmm_reports_fig_12s_variances_as_brute_force():
    """MAD Fig. 12 fn. 7: variance = trace of the covariance; average modal variance over the populated true modes."""
    cfg = trial_config(family="gmm", n_ini=200, generations=1, replicates=2,
                       params={"gmm": {"n_eval": 300, "em_iters": 10, "n_ref": 300}})
    from madray.trial import Trial

    trial = Trial(cfg)
    rows = trial.step()
    from madray.seeding import Stream, rng

    x = trial.family.evaluation_sample(trial.state, rng(cfg.seed, 1, Stream.EVALUATE))["x"]
    modes = trial.family.modes
    for r, row in enumerate(rows):
        assert row["total_variance"] == pytest.approx(np.trace(np.cov(x[r].T)))
        nearest = np.argmin(((x[r][:, None] - modes) ** 2).sum(-1), axis=1)
        per_mode = [np.trace(np.cov(x[r][nearest == m].T)) for m in range(len(modes)) if (nearest == m).sum() >= 5]
        assert row["modal_variance"] == pytest.approx(np.mean(per_mode))


@pytest.mark.slow
def test_vae_reports_the_held_out_negative_elbo_in_nats_per_image(madray_cache):
    """Gerstgrasser et al.'s metric (test loss on held-out real data): −ELBO of the held-out images, here
    recomputed from the fitted weights with 16 latent draws per image (reconstruction + analytic KL)."""
    import torch
    import torch.nn.functional as F
    from deep_helpers import TINY, deep_config, mnist_shared

    from madray.models.vae import VAE
    from madray.torch_utils import replicate

    cfg = deep_config("vae", madray_cache, params={**TINY["vae"], "steps": 200}, n_ini=500, generations=1)
    family = VAE(cfg, mnist_shared(madray_cache))
    state = family.fit(family.sample_real(500, np.random.default_rng(0)), None, np.random.default_rng(1))
    value = family.evaluate(state, np.random.default_rng(2))["nelbo"][0]
    modules = family.modules(replicate(state, 0))
    x = torch.from_numpy(family.shared.split.held_x.astype(np.float32) / 255.0)
    with torch.no_grad():
        mean, log_var = modules["encoder"].eval()(x)
        kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(dim=1)
        draws = torch.stack([F.binary_cross_entropy_with_logits(
            modules["decoder"].eval()(mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)), x, reduction="none").sum(dim=(1, 2))
            for _ in range(16)]) + kl
    per_image = draws.mean(dim=0).numpy()
    spread = draws.numpy().std()  # the metric uses one draw per image, the recomputation 16
    assert value == pytest.approx(per_image.mean(), abs=4 * np.hypot(spread / np.sqrt(len(x)), spread / np.sqrt(draws.numel())))
    assert 50 < value < 784 * np.log(2) + 100  # nats per image: above a good MNIST VAE's ~100, below coin flips


def test_fresh_mnist_beyond_the_pool_is_said_at_parse_time():
    import warnings

    from madray.loops import LOOPS
    from madray.models.real_pool import fresh_real_total
    from madray.spec import load_sweep

    with pytest.warns(UserWarning, match=r"draws 5000 real images over 3 generations .* pool of 4000.*params.ddpm.path"):
        load_sweep("sweeps/mnist_ddpm.yaml", ["loop=fresh_data", "n_r=500", "generations=3"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_sweep("sweeps/mnist_ddpm.yaml", ["loop=fresh_data", "n_r=500", "n_ini=1000", "generations=3"])
        load_sweep("sweeps/mnist_ddpm.yaml", ["generations=30"])  # fully synthetic draws no fresh data
    cfg = trial_config(loop="fresh_data", n_ini=10, n_r=7, n_s=5, p=0.5, K=2, generations=4)
    draws = {name: LOOPS[name].fresh_draws(cfg) for name in LOOPS}
    assert draws == {"fully_synthetic": 0, "replace": 0, "synthetic_augmentation": 0, "fresh_data": 7, "accumulate": 0,
                     "accumulate_subsample": 0, "accumulate_real": 7, "memory": 7, "mixture": 5}
    assert fresh_real_total(cfg) == 10 + 3 * 7
