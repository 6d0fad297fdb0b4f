"""Effective sample size (MAD Eq. 3) against closed forms, and the theory lines against simulation.

Data come from `run_trial` (no Ray): the gaussian family is vectorised over replicates, so
hundreds of replicates per grid point are cheap. Replicates are independent, so every
tolerance below is a multiple of a standard error computed from the data.
"""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from helpers import trial_config
from scipy.special import gammaln

from madray.analysis import (
    effective_sample_size,
    linreg_accumulate_error,
    linreg_replace_error,
    mean_ne_ratio,
    mean_ne_ratio_limit,
)
from madray.analysis import trial_config as rebuilt_config
from madray.analysis.reference import FrechetReference
from madray.trial import run_trial


def fresh_loop(n_r, n_s, lam, *, n_ini=None, generations=20, replicates=400, seed=0, d=2):
    """Rows of one fresh-data trial as a DataFrame, with a trial id naming its knobs."""
    cfg = trial_config(loop="fresh_data", n_ini=n_ini or n_r + n_s, n_r=n_r, n_s=n_s, lam=lam,
                       generations=generations, replicates=replicates, seed=seed, params={"gaussian": {"d": d}})
    cfg = dataclasses.replace(cfg, trial_id=f"lam{lam}-nr{n_r}-ns{n_s}")
    return pd.DataFrame(run_trial(cfg))


def iid_frechet_d1(n):
    """E FD for n i.i.d. N(0, 1) samples: 1/n + E(√(χ²_k/k) − 1)², k = n − 1 (a Gamma-function ratio)."""
    k = n - 1
    mean_root = math.exp(0.5 * math.log(2 / k) + gammaln((k + 1) / 2) - gammaln(k / 2))
    return 1 / n + 2 - 2 * mean_root


# --------------------------------------------------------------------------- the i.i.d. reference curve
@pytest.mark.parametrize("n", [2, 3, 10, 100, 1000])
def test_frechet_reference_matches_the_closed_form_in_one_dimension(n):
    mean, se = FrechetReference(1, draws=50_000, seed=n).expected(n)
    assert abs(mean - iid_frechet_d1(n)) < 4 * se
    assert se < 0.01 * mean  # n_e inherits this relative error


def test_frechet_reference_inverts_to_the_sample_size():
    ref = FrechetReference(2)
    for n in (5, 40, 700):
        inv = ref.invert(ref.expected(n)[0])
        assert abs(inv.n - n) < 0.01 * n and -1.4 < inv.slope < -0.8
    assert math.isnan(ref.invert(1e9).n) and math.isnan(ref.invert(0.0).n)  # outside the grid: no answer


# --------------------------------------------------------------------------- n_e against closed forms
@pytest.mark.parametrize("distance", ["frechet", "mean_error"])
def test_no_synthetic_data_gives_n_e_equal_to_n_r(distance):
    """n_s = 0: every generation is an i.i.d. fit to n_r real samples, so n_e = n_r."""
    row = effective_sample_size(fresh_loop(30, 0, 1.0, replicates=600), distance=distance).iloc[0]
    assert abs(row["ratio"] - 1) < 4 * row["ratio_se"]
    assert row["ratio_low"] < 1 < row["ratio_high"]
    assert row["ratio_se"] < 0.02  # a 10% error in n_e would be seen


def test_lambda_one_matches_the_closed_form_and_never_hurts():
    """λ = 1: n_e / n_r = (n_r + 2n_s)/(n_r + n_s) for the mean (exact form: madray.analysis.theory)."""
    n_r, frames = 50, []
    for n_s in (25, 50, 150):
        # start at the predicted steady state: the loop forgets n_ini (MAD Fig. 9), only slowly when n_s >> n_r
        n_ini = round(n_r * float(mean_ne_ratio(n_r, n_s)))
        frames.append(fresh_loop(n_r, n_s, 1.0, n_ini=n_ini, generations=24, replicates=600, seed=n_s))
    df = pd.concat(frames)
    mean = effective_sample_size(df, distance="mean_error", steady=16)
    exact, limit = mean_ne_ratio(mean["n_r"], mean["n_s"]), mean_ne_ratio_limit(mean["n_r"], mean["n_s"])
    np.testing.assert_allclose(limit, (n_r + 2 * mean["n_s"]) / (n_r + mean["n_s"]))
    assert (np.abs(mean["ratio"] - exact) < 4 * mean["ratio_se"]).all(), mean[["n_s", "ratio", "ratio_se"]]
    assert (np.abs(mean["ratio"] - limit) < 4 * mean["ratio_se"]).all()
    assert (mean["ratio_se"] < 0.1 * (limit - 1)).all()  # the gain over n_e = n_r is resolved
    assert (mean["ratio_low"] > 1).all()
    frechet = effective_sample_size(df, distance="frechet", steady=16)
    assert (frechet["ratio_low"] > 1).all(), frechet[["n_s", "ratio", "ratio_low"]]


@pytest.mark.slow
def test_lambda_below_one_has_a_phase_transition():
    """λ < 1: n_e / n_r drops below 1 once n_s passes a threshold, lower for smaller λ (MAD Fig. 10)."""
    n_r, sizes = 100, (30, 100, 300)
    df = pd.concat([fresh_loop(n_r, n_s, lam, generations=20, replicates=300, seed=7)
                    for lam in (0.9, 0.7) for n_s in sizes])
    table = effective_sample_size(df, distance="frechet", steady=10)
    thresholds = {}
    for lam, rows in table.groupby("lam"):
        rows = rows.sort_values("n_s")
        above, below = rows["ratio_low"].to_numpy() > 1, rows["ratio_high"].to_numpy() < 1
        assert above[0] and below[-1], rows[["n_s", "ratio", "ratio_low", "ratio_high"]]
        first_below = int(np.argmax(below))
        assert below[first_below:].all()  # one crossing: once inadmissible, more synthetic data stays so
        thresholds[lam] = rows["n_s"].iloc[first_below]
    assert thresholds[0.7] < thresholds[0.9], thresholds
    # the mean alone improves with λ < 1 (closed form): the transition is the covariance shrinking
    mean = effective_sample_size(df, distance="mean_error", steady=10)
    assert (mean["ratio_low"] > 1).all()


def test_drift_flags_a_window_that_is_not_at_steady_state():
    steady = effective_sample_size(fresh_loop(20, 0, 1.0, generations=8, replicates=300)).iloc[0]
    assert abs(steady["drift_z"]) < 4  # i.i.d. fits every generation: no drift
    # a start far better than the steady state (n_ini = 2000 vs n_e ≈ 2 n_r) is forgotten only at rate b² ≈ 0.88
    approach = effective_sample_size(fresh_loop(20, 300, 1.0, n_ini=2000, generations=8, replicates=600)).iloc[0]
    assert approach["drift_z"] > 6


# --------------------------------------------------------------------------- the ratio's denominator
def loop_trial(loop, **knobs):
    cfg = trial_config(loop=loop, generations=12, replicates=400, seed=5, metrics=["mean_error"], **knobs)
    return pd.DataFrame(run_trial(dataclasses.replace(cfg, trial_id=loop)))


def test_ratio_divides_by_the_real_samples_the_loop_uses():
    """mixture: n_e / round(p·n_ini), and mixture is fresh data with n_r = p·n, n_s = (1 − p)·n, whose
    λ = 1 steady state has a closed form; loops without fresh real data get NaN and a reason."""
    df = pd.concat([loop_trial("mixture", n_ini=100, p=0.5, n_r=1000),  # n_r is not the mixture's: ignored
                    loop_trial("synthetic_augmentation", n_ini=100, n_r=40, n_s=60),
                    loop_trial("fully_synthetic", n_ini=100, n_r=1000, n_s=100),
                    loop_trial("accumulate", n_ini=100, n_s=100)])
    table = effective_sample_size(df, distance="mean_error", steady=6).set_index("loop")
    mix = table.loc["mixture"]
    assert abs(mix["ratio"] - float(mean_ne_ratio(50, 50))) < 4 * mix["ratio_se"], mix[["ratio", "ratio_se"]]
    assert mix["ratio"] * 50 == pytest.approx(mix["n_e"]) and mix["ratio_reason"] == ""
    aug = table.loc["synthetic_augmentation"]
    assert aug["ratio"] * 40 == pytest.approx(aug["n_e"])
    for loop, reason in (("fully_synthetic", "no real data after generation 1"), ("accumulate", "fixed at generation 1")):
        row = table.loc[loop]
        assert np.isnan(row["ratio"]) and np.isfinite(row["n_e"]) and row["admissible"] is None
        assert loop in row["ratio_reason"] and reason in row["ratio_reason"]


# --------------------------------------------------------------------------- input checks
def test_bad_inputs_are_named():
    df = fresh_loop(10, 10, 1.0, generations=4, replicates=5)
    with pytest.raises(ValueError, match="distance = 'wasserstein'.*allowed: frechet, mean_error"):
        effective_sample_size(df, distance="wasserstein")
    with pytest.raises(ValueError, match="steady = 9 generations.*use 1..4"):
        effective_sample_size(df, steady=9)
    with pytest.raises(ValueError, match="needs results of the gaussian family; found: \\['gmm'\\]"):
        effective_sample_size(df.assign(family="gmm"))
    with pytest.raises(ValueError, match="level"):
        effective_sample_size(df, level=95)


def test_trial_config_is_rebuilt_from_rows():
    cfg = trial_config(family="linreg", loop="accumulate", n_ini=30, n_s=30, lam=0.5, generations=3, replicates=4,
                       seed=9, params={"linreg": {"d": 3, "sigma": 0.5}})
    rows = pd.DataFrame(run_trial(cfg))
    assert rebuilt_config(rows, cfg.trial_id) == cfg
    with pytest.raises(ValueError, match="trial_id = 'nope' is not in these results"):
        rebuilt_config(rows, "nope")


# --------------------------------------------------------------------------- linear-regression theory lines
def test_linreg_theory_lines_match_simulation():
    """replace: exact Σ σ²d/(T − d − 1); accumulate: below Gerstgrasser et al.'s π²/6 bound."""
    d, sigma, T, G, R = 4, 1.0, 20, 5, 3000
    errors = {}
    for loop in ("replace", "accumulate"):
        cfg = trial_config(family="linreg", loop=loop, n_ini=T, n_s=T, generations=G, replicates=R, seed=3,
                           params={"linreg": {"d": d, "sigma": sigma, "n_test": 10}})
        errors[loop] = pd.DataFrame(run_trial(cfg)).groupby("generation")["test_error"].agg(["mean", "std"])
    replace, se = errors["replace"]["mean"].to_numpy(), errors["replace"]["std"].to_numpy() / math.sqrt(R)
    theory = linreg_replace_error(G, d, sigma, T, T)
    assert (np.abs(replace - theory) < 4 * se).all(), (replace, theory, se)
    assert se[-1] < 0.1 * (theory[-1] - theory[-2])  # one generation's increment is resolved
    accumulate = errors["accumulate"]["mean"].to_numpy()
    bound = math.pi**2 / 6 * theory[0]
    assert (accumulate < bound).all() and accumulate[-1] < replace[-1] / 3
    curve = linreg_accumulate_error(G, d, sigma, T)
    assert curve[-1] < bound and np.all(np.diff(curve) > 0)
