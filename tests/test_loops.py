"""Each loop builds the training set the papers describe (sizes and provenance)."""

import numpy as np
import pytest
from helpers import trial_config

from madray.loops import LOOPS
from madray.trial import Trial


def recorded_training_sets(cfg):
    """Run a trial and keep what each generation was fitted on, plus the synthetic draws."""
    trial = Trial(cfg)
    fits, synth = [], []
    fit, sample = trial.family.fit, trial.family.sample

    def fit_spy(data, prev, rng):
        fits.append(data["x"].copy())
        return fit(data, prev, rng)

    def sample_spy(state, n, lam, rng):
        out = sample(state, n, lam, rng)
        synth.append(out["x"].copy())
        return out

    trial.family.fit, trial.family.sample = fit_spy, sample_spy
    while not trial.done:
        trial.step()
    return trial, fits, synth


def contains_rows(big, small):
    """Every row of small (n, d) appears in big (m, d)."""
    return all(np.any(np.all(big == row, axis=1)) for row in small)


@pytest.mark.parametrize("loop", sorted(set(LOOPS) - {"replace"}))
def test_training_set_sizes_match_train_size(loop):
    cfg = trial_config(loop=loop, n_ini=30, n_r=10, n_s=12, K=2, p=0.4, generations=5, replicates=3)
    trial, fits, _ = recorded_training_sets(cfg)
    assert fits[0].shape == (3, 30, 2)
    for t in range(2, 6):
        assert fits[t - 1].shape[1] == trial.loop.train_size(cfg, t), (loop, t)


def test_fully_synthetic_trains_on_last_generation_only():
    cfg = trial_config(loop="fully_synthetic", n_ini=20, n_s=15, generations=4, replicates=2)
    _, fits, synth = recorded_training_sets(cfg)
    for t in range(2, 5):
        np.testing.assert_array_equal(fits[t - 1], synth[t - 2])


def test_synthetic_augmentation_reuses_the_same_real_rows():
    cfg = trial_config(loop="synthetic_augmentation", n_ini=20, n_r=8, n_s=15, generations=4, replicates=2)
    _, fits, synth = recorded_training_sets(cfg)
    real = fits[0][:, :8]
    for t in range(2, 5):
        np.testing.assert_array_equal(fits[t - 1][:, :8], real)
        np.testing.assert_array_equal(fits[t - 1][:, 8:], synth[t - 2])


def test_fresh_data_draws_new_real_rows_each_generation():
    cfg = trial_config(loop="fresh_data", n_ini=20, n_r=8, n_s=15, generations=4, replicates=2)
    _, fits, synth = recorded_training_sets(cfg)
    reals = [fits[t - 1][:, :8] for t in range(2, 5)]
    for a in range(3):
        assert not contains_rows(fits[0][0], reals[a][0][:1])
        for b in range(a):
            assert not np.any(reals[a] == reals[b])
    np.testing.assert_array_equal(fits[3][:, 8:], synth[2])


def test_accumulate_keeps_real_and_every_synthetic_generation():
    cfg = trial_config(loop="accumulate", n_ini=20, n_s=15, generations=5, replicates=2)
    _, fits, synth = recorded_training_sets(cfg)
    np.testing.assert_array_equal(fits[4], np.concatenate([fits[0], *synth[:4]], axis=1))


def test_accumulate_subsample_draws_without_replacement_from_the_pool():
    cfg = trial_config(loop="accumulate_subsample", n_ini=20, n_s=15, generations=4, replicates=3)
    _, fits, synth = recorded_training_sets(cfg)
    pool = np.concatenate([fits[0], *synth[:3]], axis=1)
    for r in range(3):
        assert contains_rows(pool[r], fits[3][r])
        assert len(np.unique(fits[3][r], axis=0)) == 20
    assert not np.array_equal(fits[3][0], fits[3][1])  # independent per replicate


def test_memory_draws_n_s_samples_each_from_one_of_the_last_k_models():
    cfg = trial_config(loop="memory", n_ini=20, n_r=5, n_s=400, K=3, generations=6, replicates=2)
    trial = Trial(cfg)
    fitted, sampled = [], []  # states in fit order; (state, draw) per sample call
    fit, sample = trial.family.fit, trial.family.sample
    trial.family.fit = lambda data, prev, rng: fitted.append(fit(data, prev, rng)) or fitted[-1]
    trial.family.sample = lambda state, n, lam, rng: sampled.append((state, sample(state, n, lam, rng))) or sampled[-1][1]
    for _ in range(5):
        trial.step()
    # after generation 5: fresh draws from the models of generations 5, 4, 3 (newest first)
    assert [state for state, _ in sampled[-3:]] == [fitted[4], fitted[3], fitted[2]]
    assert len(sampled) == 1 + 2 + 3 + 3 + 3  # generation t draws from min(K, t) models
    part = trial.synthetic[-1]["x"]
    assert part.shape == (2, 400, 2)
    # sample i is sample i of exactly one of the three draws
    source = np.stack([np.all(part == draw["x"], axis=-1) for _, draw in sampled[-3:]])  # (K, R, n_s)
    assert np.all(source.sum(axis=0) == 1)
    # each model is picked with probability 1/K: counts binomial(2·400, 1/3)
    counts, n = source.sum(axis=(1, 2)), 2 * 400
    assert np.all(np.abs(counts - n / 3) < 4 * np.sqrt(n * (1 / 3) * (2 / 3))), counts


def test_memory_with_k_1_is_the_fresh_data_loop():
    knobs = dict(n_ini=20, n_r=5, n_s=6, generations=4, replicates=2, seed=3)
    from madray.trial import run_trial

    memory = run_trial(trial_config(loop="memory", K=1, **knobs))
    fresh = run_trial(trial_config(loop="fresh_data", **knobs))
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("loop", "trial_id")} for r in rows]  # noqa: E731
    assert strip(memory) == strip(fresh)


def test_mixture_uses_fraction_p_real():
    cfg = trial_config(loop="mixture", n_ini=50, p=0.3, generations=3, replicates=2)
    _, fits, synth = recorded_training_sets(cfg)
    assert synth[0].shape[1] == 35
    np.testing.assert_array_equal(fits[2][:, 15:], synth[1])


def test_trial_is_reproducible_from_config():
    cfg = trial_config(loop="accumulate_subsample", n_ini=20, n_s=15, generations=3, replicates=2, seed=9)
    from madray.trial import run_trial

    assert run_trial(cfg) == run_trial(cfg)
    other = run_trial(trial_config(loop="accumulate_subsample", n_ini=20, n_s=15, generations=3, replicates=2, seed=10))
    assert other != run_trial(cfg)
