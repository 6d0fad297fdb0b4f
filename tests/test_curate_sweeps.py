"""The curation sweeps (sweeps/curate_*.yaml): each header's qualitative claim, checked at the sweep's own size.

Every trial runs without Ray (`run_trial`); differences are compared to 4 standard errors over replicates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from madray.spec import load_sweep
from madray.trial import run_trial

SWEEPS = Path(__file__).parent.parent / "sweeps"
Z = 4.0


def final(name: str, metric: str, by: str | list[str]) -> dict:
    """Value(s) of the curation column(s) `by` -> a (replicate × generation) table of `metric`."""
    sweep = load_sweep(SWEEPS / f"curate_{name}.yaml")
    df = pd.DataFrame([row for t in sweep.trials for row in run_trial(t)])
    return {key: rows.pivot(index="replicate", columns="generation", values=metric) for key, rows in df.groupby(by)}


def gap(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a − mean b) in standard errors of the difference (independent replicates)."""
    return (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


def test_feng_a_perfect_verifier_stops_collapse_a_coin_flip_does_not():
    err = final("verify", "test_error", ["curate_kind", "curate_flip"])
    none, perfect, coin = err[("none", 0.0)], err[("verify", 0.0)], err[("verify", 0.5)]
    last = none.columns.max()
    assert gap(none[last], none[1]) > Z  # replace collapses: the error grows
    assert gap(perfect[1], perfect[last]) > Z  # the perfect verifier ends below generation 1
    assert abs(gap(coin[last], none[last])) < Z  # the coin-flip verifier is no verifier
    assert gap(coin[last], perfect[last]) > Z


def test_ferbach_selection_raises_the_reward_and_shrinks_diversity():
    sweep_reward = final("select", "oracle_all", "curate_kind")["select"]
    trace = final("select", "trace_cov", "curate_kind")
    last = trace["none"].columns.max()
    assert gap(sweep_reward[last - 1], sweep_reward[1]) > Z  # expected reward of the model's samples rises
    assert gap(trace["select"][1], trace["select"][last]) > Z  # diversity shrinks
    assert abs(trace["none"][last].mean() - 2.0) < Z * trace["none"][last].std(ddof=1) / np.sqrt(len(trace["none"]))


def test_gillman_correction_keeps_the_loop_near_the_truth():
    # the uncorrected loop's distances are heavy-tailed (a few replicates drift far): compare logs
    frechet = {g: np.log(v) for g, v in final("correct", "frechet", "curate_gamma").items()}
    last = frechet[0.0].columns.max()
    assert gap(frechet[0.0][last], frechet[0.1][last]) > Z
    assert gap(frechet[0.1][last], frechet[0.5][last]) > Z
