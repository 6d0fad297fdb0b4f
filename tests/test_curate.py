"""Curation (madray/curate) against closed forms and simulations written here.

Statistical checks use fixed seeds and tolerances of 4 standard errors; each has a twin that
shows the check can fail (the effect it rules out would be many standard errors away).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import column, trial_config
from scipy import stats

from madray.config import ConfigError, Curate
from madray.curate.select import luce_choice
from madray.plots import figures
from madray.spec import parse_sweep
from madray.trial import Trial, run_trial

Z = 4.0  # standard errors


def gaussian_threshold(radius: float, d: int) -> float:
    """The log-density threshold of N(0, I_d) that accepts exactly ‖x‖ <= radius."""
    return -0.5 * radius**2 - 0.5 * d * math.log(2 * math.pi)


def states(cfg) -> list[dict]:
    """The fitted state of every generation."""
    trial, out = Trial(cfg), []
    while not trial.done:
        trial.step()
        out.append({k: v.copy() for k, v in trial.state.items()})
    return out


def test_radius_verifier_follows_the_truncated_normal_variance():
    """Gaussian, d = 1, replace, verifier keeps |x| <= r (noise 0): given generation t's fit N(μ̂, σ̂²),
    the kept samples are N(μ̂, σ̂²) truncated to [−r, r], so E[σ̂²_{t+1}] is that truncated normal's
    variance (scipy.stats.truncnorm), generation by generation."""
    r, n, reps, gens = 1.0, 1000, 200, 6
    cfg = trial_config(n_ini=n, n_s=n, replicates=reps, generations=gens, params={"gaussian": {"d": 1}},
                       curate={"kind": "verify", "threshold": gaussian_threshold(r, 1)})
    fits = states(cfg)
    for t in range(gens - 1):
        mu, sd = fits[t]["mean"][:, 0], np.sqrt(fits[t]["cov"][:, 0, 0])
        expected = stats.truncnorm((-r - mu) / sd, (r - mu) / sd, loc=mu, scale=sd).var()
        ratio = fits[t + 1]["cov"][:, 0, 0] / expected
        se = ratio.std(ddof=1) / math.sqrt(reps)
        assert abs(ratio.mean() - 1) < Z * se, (t, ratio.mean(), se)
        if t == 0:  # the check can fail: without truncation the ratio would be var_t / truncated var
            untruncated = fits[t]["cov"][:, 0, 0] / expected
            assert untruncated.mean() - 1 > 50 * se
    rows = run_trial(cfg)
    assert np.nansum(column(rows, "cap_hit", gens, reps)) == 0


def test_correct_gamma_one_returns_the_truth_moments():
    """γ = 1 maps N(μ̂, λΣ̂) exactly onto N(0, I): every generation refits n i.i.d. N(0, I) samples, so
    tr Σ̂ ~ χ²_{d(n−1)}/(n−1) (mean d, variance 2d/(n−1)) and E‖μ̂‖² = d/n, even with λ = 0.8."""
    d, n, reps, gens = 3, 200, 100, 10
    kw = dict(n_ini=n, n_s=n, replicates=reps, generations=gens, lam=0.8, params={"gaussian": {"d": d}})
    rows = run_trial(trial_config(**kw, curate={"kind": "correct", "gamma": 1.0}))
    trace = column(rows, "trace_cov", gens, reps)[-1]
    assert abs(trace.mean() - d) < Z * math.sqrt(2 * d / (n - 1) / reps)
    mean_sq = column(rows, "mean_error", gens, reps)[-1] ** 2
    assert abs(mean_sq.mean() - d / n) < Z * math.sqrt(2 * d / n**2 / reps)
    collapsed = column(run_trial(trial_config(**kw)), "trace_cov", gens, reps)[-1]
    assert d - collapsed.mean() > 50 * math.sqrt(2 * d / (n - 1) / reps)  # without correction: λ^(t−1) d


@pytest.mark.parametrize("family, params", [
    ("gaussian", {"gaussian": {"d": 3}}),
    ("linreg", {"linreg": {"d": 4}}),
    ("gmm", {"gmm": {"grid": 2, "components": 4, "em_iters": 5, "n_eval": 50}}),
])
def test_correct_gamma_zero_is_no_curation(family, params):
    """Same seeds, same rows: every config and metric column but the curation ones is identical."""
    kw = dict(family=family, loop="accumulate", n_ini=60, n_s=40, replicates=3, generations=4, lam=0.9, params=params)
    plain = run_trial(trial_config(**kw))
    corrected = run_trial(trial_config(**kw, curate={"kind": "correct", "gamma": 0.0}))
    for a, b in zip(plain, corrected, strict=True):
        assert {k: v for k, v in b.items() if k in a and not k.startswith("curate_")} == \
               {k: v for k, v in a.items() if not k.startswith("curate_")}
    assert all(r["curate_kind"] == "none" for r in plain) and "accept_rate" not in plain[0]


def test_a_coin_flip_verifier_is_no_verifier():
    """flip = 0.5 makes every decision independent of the sample: the kept samples are i.i.d. draws of
    the model, so tr Σ̂ after 8 generations matches the uncurated loop within SEs; the same verifier
    with flip = 0 is far away (the check can fail)."""
    d, n, reps, gens = 2, 40, 300, 8
    kw = dict(n_ini=n, n_s=n, replicates=reps, generations=gens, params={"gaussian": {"d": d}})
    verifier = {"kind": "verify", "threshold": gaussian_threshold(1.0, d)}
    none = column(run_trial(trial_config(**kw)), "trace_cov", gens, reps)[-1]
    coin_rows = run_trial(trial_config(**kw, seed=1, curate={**verifier, "flip": 0.5}))
    coin = column(coin_rows, "trace_cov", gens, reps)[-1]
    se = math.sqrt(none.var(ddof=1) / reps + coin.var(ddof=1) / reps)
    assert abs(coin.mean() - none.mean()) < Z * se
    accept = column(coin_rows, "accept_rate", gens, reps)[:-1]
    drawn = n  # at acceptance 1/2 the first draw of n rarely suffices; at least n candidates each
    assert abs(np.mean(accept) - 0.5) < Z * math.sqrt(0.25 / (drawn * accept.size))
    perfect = column(run_trial(trial_config(**kw, seed=1, curate=verifier)), "trace_cov", gens, reps)[-1]
    assert none.mean() - perfect.mean() > 10 * se


def test_luce_choice_matches_the_softmax():
    """Gumbel-max draws pick k with probability exp(β r_k) / Σ exp(β r_j) (binomial SE per k)."""
    rewards, beta, draws = np.array([0.0, 0.5, -1.0, 2.0]), 1.5, 200_000
    picks = luce_choice(np.broadcast_to(rewards, (draws, 4)), beta, np.random.default_rng(0))
    freq = np.bincount(picks, minlength=4) / draws
    p = np.exp(beta * rewards) / np.exp(beta * rewards).sum()
    assert np.all(np.abs(freq - p) < Z * np.sqrt(p * (1 - p) / draws))
    assert np.all(luce_choice(rewards[None], math.inf, np.random.default_rng(0)) == 3)


def test_select_raises_the_reward():
    """Best of K by the true log density keeps better-scored samples than the model draws."""
    rows = run_trial(trial_config(n_ini=200, n_s=200, replicates=4, generations=3,
                                  curate={"kind": "select", "candidates": 4, "beta": math.inf}))
    kept, drawn = (column(rows, m, 3, 4)[:-1] for m in ("oracle_kept", "oracle_all"))
    assert np.all(kept > drawn) and np.all(column(rows, "accept_rate", 3, 4)[:-1] == 0.25)


def test_keep_fraction_keeps_the_best_scores_and_the_cap_is_recorded():
    """keep = 0.25 draws 4 n_s candidates and keeps exactly the n_s best; a threshold nothing passes
    exhausts cap · n_s candidates and records cap_hit = 1 (the batch is still n_s samples)."""
    kw = dict(n_ini=100, n_s=100, replicates=3, generations=2)
    trial = Trial(trial_config(**kw, curate={"kind": "verify", "keep": 0.25}))
    rows = trial.step()
    assert rows[0]["accept_rate"] == pytest.approx(0.25) and trial.synthetic[-1]["x"].shape == (3, 100, 2)
    trial = Trial(trial_config(**kw, curate={"kind": "verify", "threshold": 10.0, "cap": 3}))
    rows = trial.step()
    assert [r["cap_hit"] for r in rows] == [1.0] * 3 and [r["accept_rate"] for r in rows] == [0.0] * 3
    assert trial.synthetic[-1]["x"].shape == (3, 100, 2)


@pytest.mark.parametrize("curate, family, message", [
    ({"kind": "correct", "gamma": 1.5}, "gaussian", "curate.gamma = 1.5"),
    ({"kind": "correct", "gamma": -0.1}, "gaussian", "curate.gamma = -0.1"),
    ({"kind": "verify", "keep": 0.0}, "gaussian", "curate.keep = 0.0"),
    ({"kind": "verify"}, "gaussian", "exactly one rule"),
    ({"kind": "verify", "keep": 0.5, "threshold": -1.0}, "gaussian", "exactly one rule"),
    ({"kind": "verfy"}, "gaussian", "curate.kind = 'verfy'"),
    ({"kind": "select", "gama": 1}, "gaussian", "unknown key 'gama'"),
    ({"kind": "correct", "gamma": 0.5}, "flow", "provides no correct()"),
    ({"kind": "verify", "keep": 0.5}, "vae", "provides no oracle_score()"),
])
def test_bad_curation_is_refused_at_parse_time(curate, family, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_sweep({"name": "s", "family": family, "loop": "replace", "curate": curate})


def test_curate_knobs_are_griddable_and_become_columns():
    sweep = parse_sweep({"name": "s", "family": "gaussian", "loop": "replace", "curate": {"kind": "correct"},
                         "grid": {"curate.gamma": [0.0, 0.5], "lam": [1.0, 0.9]}})
    assert [t.curate for t in sweep.trials] == [Curate(kind="correct", gamma=g) for g in (0.0, 0.0, 0.5, 0.5)]
    assert sweep.grid_table()[2]["curate.gamma"] == 0.5
    assert sweep.metric_names[-4:] == ["accept_rate", "oracle_all", "oracle_kept", "cap_hit"]
    with pytest.raises(ConfigError, match="grid point 0.*curate.gamma = 2"):
        parse_sweep({"name": "s", "family": "gaussian", "loop": "replace", "grid": {"curate.kind": ["correct"], "curate.gamma": [2]}})


def test_curation_figure_draws_each_setting_with_its_replicate_mean():
    spec = {"name": "c", "family": "gaussian", "loop": "replace", "generations": 3, "replicates": 5,
            "n_ini": 50, "n_s": 50, "grid": {"curate": [{"kind": "none"}, {"kind": "correct", "gamma": 0.5}]}}
    df = pd.DataFrame([r for t in parse_sweep(spec).trials for r in run_trial(t)])
    fig = figures(df)["curation"]
    trace_ax = next(ax for ax in fig.axes if ax.get_title() == "gaussian: trace_cov")
    lines = {line.get_label(): line for line in trace_ax.get_lines()}
    assert set(lines) == {"kind=none, gamma=0", "kind=correct, gamma=0.5"}
    expected = df[df["curate_kind"] == "correct"].groupby("generation")["trace_cov"].mean()
    np.testing.assert_allclose(lines["kind=correct, gamma=0.5"].get_ydata(), expected.to_numpy())
    assert "curation" not in figures(df[df["curate_kind"] == "none"])
