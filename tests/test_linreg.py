"""Linear regression: replace grows linearly, accumulate stays bounded (Gerstgrasser et al. 2024)."""

import functools

import numpy as np
import pytest
from helpers import column, trial_config

from madray.analysis import linreg_accumulate_error, linreg_replace_error
from madray.models.linreg import ols
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_heldout_mse_is_noise_plus_excess():
    cfg = trial_config(family="linreg", loop="replace", n_ini=T, n_s=T, generations=2, replicates=REPS, seed=4,
                       params={"linreg": {"d": D, "sigma": SIGMA, "n_test": 20000}})
    rows = run_trial(cfg)
    excess = column(rows, "test_error", 2, REPS)
    mse = column(rows, "heldout_mse", 2, REPS)
    # held-out MSE of a fixed test set ≈ σ² + excess for each model (test-set noise is O(1/√n_test))
    np.testing.assert_allclose(mse.mean(axis=1), SIGMA**2 + excess.mean(axis=1), rtol=0.03)


# --------------------------------------------------------------------------- fixed vs fresh design (Gerstgrasser §2)
D2, T2, G2, R2 = 10, 50, 8, 1500


def simulate(loop: str, design: str, seed: int) -> np.ndarray:
    """‖ŵ_t − w*‖² per (generation, replicate), written from the paper's description (w* = 0 w.l.o.g.:
    OLS is linear, so the error does not depend on w*)."""
    rng = np.random.default_rng(seed)
    fixed = rng.standard_normal((R2, T2, D2))
    covariates = (lambda: fixed) if design == "fixed" else (lambda: rng.standard_normal((R2, T2, D2)))
    ols = lambda x, y: np.linalg.solve(np.swapaxes(x, 1, 2) @ x, np.einsum("rnd,rn->rd", x, y)[..., None])[..., 0]  # noqa: E731
    x = covariates()
    xs, ys = [x], [SIGMA * rng.standard_normal((R2, T2))]
    w = ols(xs[0], ys[0])
    errors = [np.sum(w**2, axis=1)]
    for _ in range(2, G2 + 1):
        x = covariates()
        y = np.einsum("rnd,rd->rn", x, w) + SIGMA * rng.standard_normal((R2, T2))
        xs, ys = (xs + [x], ys + [y]) if loop == "accumulate" else ([x], [y])
        w = ols(np.concatenate(xs, axis=1), np.concatenate(ys, axis=1))
        errors.append(np.sum(w**2, axis=1))
    return np.asarray(errors)


@functools.cache  # the two accumulate trials serve two tests
def madray_errors(loop: str, design: str) -> np.ndarray:
    cfg = trial_config(family="linreg", loop=loop, n_ini=T2, n_s=T2, generations=G2, replicates=R2, seed=11,
                       params={"linreg": {"d": D2, "sigma": SIGMA, "design": design, "n_test": 10}})
    return column(run_trial(cfg), "test_error", G2, R2)


@pytest.mark.slow
@pytest.mark.parametrize("loop, design", [("accumulate", "fixed"), ("accumulate", "fresh"), ("replace", "fixed")])
def test_design_matches_simulation_and_theory(loop, design):
    ours, sim = madray_errors(loop, design), simulate(loop, design, seed=3)
    se = np.hypot(ours.std(axis=1, ddof=1), sim.std(axis=1, ddof=1)) / np.sqrt(R2)
    assert np.all(np.abs(ours.mean(axis=1) - sim.mean(axis=1)) < 4 * se), (ours.mean(axis=1), sim.mean(axis=1))
    curve = (linreg_accumulate_error(G2, D2, SIGMA, T2, design=design) if loop == "accumulate"
             else linreg_replace_error(G2, D2, SIGMA, T2, T2, design=design))
    own_se = ours.std(axis=1, ddof=1) / np.sqrt(R2)
    assert np.all(np.abs(ours.mean(axis=1) - curve) < 4 * own_se), (ours.mean(axis=1), curve)


def test_accumulate_ratio_at_eight_generations_depends_on_the_design():
    """Fixed X: Σ_{i≤8} 1/i² = 1.527 times generation 1 (the paper's theory); fresh X: 1.448."""
    first = D2 / (T2 - D2 - 1)
    fixed = linreg_accumulate_error(G2, D2, SIGMA, T2, design="fixed")
    fresh = linreg_accumulate_error(G2, D2, SIGMA, T2, design="fresh")
    assert fixed[-1] / first == pytest.approx(sum(1 / i**2 for i in range(1, 9)), rel=1e-12)
    assert round(fixed[-1] / first, 3) == 1.527 and round(fresh[-1] / first, 3) == 1.448
    # the designs differ: compare what generations 2..8 add (paired with generation 1 within a replicate,
    # which removes most of the spread of the first fit)
    added = {design: np.diff(madray_errors("accumulate", design)[[0, -1]], axis=0)[0] for design in ("fixed", "fresh")}
    diff = added["fixed"].mean() - added["fresh"].mean()
    assert abs(diff - (fixed[-1] - fresh[-1])) < 4 * np.hypot(*(v.std(ddof=1) for v in added.values())) / np.sqrt(R2)
    assert diff > 4 * np.hypot(*(v.std(ddof=1) for v in added.values())) / np.sqrt(R2)
    replace = linreg_replace_error(G2, D2, SIGMA, T2, T2)
    np.testing.assert_allclose(replace, first * np.arange(1, G2 + 1))  # replace grows linearly


def test_ols_equals_lstsq_and_falls_back_on_a_rank_deficient_design():
    """The normal equations against LAPACK's least squares per replicate; a rank-deficient design
    (a duplicated column) gets the pseudo-inverse's minimum-norm solution, as lstsq gives."""
    rng = np.random.default_rng(3)
    for n, d in ((10, 10), (50, 10), (2000, 30)):
        x, y = rng.standard_normal((4, n, d)), rng.standard_normal((4, n))
        expected = np.stack([np.linalg.lstsq(x[r], y[r], rcond=None)[0] for r in range(4)])
        assert np.allclose(ols(x, y), expected, rtol=1e-8, atol=1e-10)
    x = rng.standard_normal((2, 40, 5))
    x[:, :, 4] = x[:, :, 3]
    y = rng.standard_normal((2, 40))
    expected = np.stack([np.linalg.lstsq(x[r], y[r], rcond=None)[0] for r in range(2)])
    assert np.allclose(ols(x, y), expected, rtol=1e-9, atol=1e-12)
