"""Linear regression: replace grows linearly, accumulate stays bounded (Gerstgrasser et al. 2024)."""

import numpy as np
from helpers import column, trial_config

from madray.trial import run_trial

D, T, SIGMA, GENS, REPS = 5, 40, 1.0, 8, 3000
FIRST = SIGMA**2 * D / (T - D - 1)  # expected excess error of generation 1


def errors(loop):
    cfg = trial_config(family="linreg", loop=loop, n_ini=T, n_s=T, generations=GENS, replicates=REPS, seed=2,
                       params={"linreg": {"d": D, "sigma": SIGMA}})
    return column(run_trial(cfg), "test_error", GENS, REPS)


def test_generation_one_matches_closed_form():
    err = errors("replace")[0]
    assert abs(err.mean() - FIRST) < 4 * err.std(ddof=1) / np.sqrt(REPS)


def test_replace_grows_linearly():
    err = errors("replace")
    for g in range(1, GENS + 1):
        e = err[g - 1]
        assert abs(e.mean() - g * FIRST) < 4 * e.std(ddof=1) / np.sqrt(REPS), g
    ratio = err[-1].mean() / err[0].mean()
    assert abs(ratio - GENS) < 0.1 * GENS


def test_accumulate_stays_bounded():
    err = errors("accumulate")
    bound = np.pi**2 / 6 * FIRST
    for g in range(1, GENS + 1):
        e = err[g - 1]
        assert e.mean() < bound + 4 * e.std(ddof=1) / np.sqrt(REPS), g
    # and is clearly below what replace reaches
    assert err[-1].mean() < 0.3 * GENS * FIRST
    # still growing a little: the bound is not met by a constant
    assert err[-1].mean() > err[0].mean() + 4 * np.sqrt(err[-1].var() / REPS + err[0].var() / REPS)


def test_heldout_mse_is_noise_plus_excess():
    cfg = trial_config(family="linreg", loop="replace", n_ini=T, n_s=T, generations=2, replicates=REPS, seed=4,
                       params={"linreg": {"d": D, "sigma": SIGMA, "n_test": 20000}})
    rows = run_trial(cfg)
    excess = column(rows, "test_error", 2, REPS)
    mse = column(rows, "heldout_mse", 2, REPS)
    # held-out MSE of a fixed test set ≈ σ² + excess for each model (test-set noise is O(1/√n_test))
    np.testing.assert_allclose(mse.mean(axis=1), SIGMA**2 + excess.mean(axis=1), rtol=0.03)
