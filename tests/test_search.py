"""Boundary search: the policy against a known crossing, bad specs refused, and real searches on Ray Tune."""

import math
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import trial_config
from matplotlib.collections import LineCollection
from matplotlib.contour import ContourSet

from madray.analysis import effective_sample_size
from madray.cli.main import main
from madray.config import ConfigError
from madray.plots import phase_diagram
from madray.report import write_report
from madray.results.folder import SweepFolder
from madray.results.store import load_boundary, load_results
from madray.search import (
    ADMISSIBLE,
    FOUND,
    INADMISSIBLE,
    NOT_CONVERGED,
    BoundarySearch,
    Estimate,
    parse_search,
    run_search,
)
from madray.search.policy import grid_crossing
from madray.spec import parse_sweep
from madray.trial import run_trial


# --------------------------------------------------------------------------- the policy, without Ray
def drive(search: BoundarySearch, statistic, se_one: float) -> BoundarySearch:
    """Answer every proposal with statistic(value) ± 2·SE, SE = se_one/√batches (a known, noise-free curve)."""
    while (proposals := search.propose()) is not None:
        assert proposals, "nothing pending, so the policy must propose or stop"
        for value, batch in proposals:
            search.start(value, batch)
            se = se_one / math.sqrt(batch + 1)
            s = statistic(value)
            search.finish(value, batch, Estimate(s, s - 2 * se, s + 2 * se, 10 * (batch + 1)))
    return search


def falling(v_star: float):
    return lambda v: 1 - 0.5 * math.log(v / v_star)  # crosses 1 at v_star, decreasing like n_e / n_r in n_s


def make(**kw) -> BoundarySearch:
    base = dict(lo=10.0, hi=3000.0, threshold=1.0, tolerance=0.1, log=True, integer=True,
                max_evaluations=30, max_batches=4)
    return BoundarySearch(**{**base, **kw})


@pytest.mark.parametrize("v_star", [37.0, 250.0, 2000.0])
def test_itp_finds_a_known_crossing_within_the_tolerance(v_star):
    search = drive(make(), falling(v_star), se_one=0.01)
    value, low, high = search.boundary()
    a, b, _, _ = search.brackets()
    assert search.status() == FOUND and b / a - 1 <= 0.1 + 1 / a  # integers: one step of slack
    assert abs(math.log(value / v_star)) <= math.log(1.1)
    # the interval: resolved values on both sides, the guards at least one tolerance from value*
    assert low <= v_star <= high and search.resolved(low) and search.resolved(high)
    assert high / low - 1 <= 1.1 ** 2 * (1 + 2 / low) - 1 + 0.02
    # a grid 10% apart over [10, 3000] has 61 values; ITP needs at most ⌈log2(61)⌉ + 1 = 7 steps after
    # the two ends, plus replicate batches at the bracket's ends (futile here: too close to 1) and 2 guards
    assert search.evaluations <= 61 / 5, search.evaluations


def test_itp_takes_at_most_one_step_more_than_bisection():
    """A step (regula falsi's bad case: the secant says nothing about where the jump is) still converges
    in at most ⌈log2(range / tolerance)⌉ + 1 = 7 steps inside the range, ITP's minmax guarantee."""
    def step(v):
        return 1.5 if v < 777 else 0.5
    search = drive(make(max_batches=1), step, se_one=0.01)
    a, b, low, high = search.brackets()
    assert search.status() == FOUND and a < 777 <= b and b / a - 1 <= 0.1 and (low, high) == (a, b)
    assert len([v for v in search.batches if 10 < v < 3000]) <= math.ceil(math.log2(math.log(300) / math.log(1.1))) + 1


def test_replicates_are_added_where_the_interval_straddles():
    """A steep crossing at 37.5: the bracket's end at 37 (estimate 0.13 from 1, interval ±0.2 at one batch,
    ±0.12 at three) gets batches until it is resolved; no other value gets any."""
    def steep(v):
        return 1 - 10 * math.log(v / 37.5)
    search = drive(make(), steep, se_one=0.1)
    a, b, low, high = search.brackets()
    assert search.status() == FOUND and a == 37.0 and (low, high) == (a, b)
    assert {v: n for v, n in search.batches.items() if n > 1} == {37.0: 3} and search.resolved(37.0)
    value, _, _ = search.boundary()
    assert low <= value <= high and abs(math.log(value / 37.5)) < math.log(1.1)


@pytest.mark.parametrize("at_109, batch", [(0.99, None), (0.96, 1)])
def test_replicates_only_where_they_could_resolve(at_109, batch):
    """A bracket end gets another batch only if its estimate is farther from the threshold than the
    interval's half-width at max_batches (0.05 / √4 here): 0.99 is not (a guard comes next), 0.96 is."""
    search = make(max_batches=4)
    for v, x in ((10.0, 2.0), (3000.0, 0.0), (100.0, 1.1), (109.0, at_109)):
        search.start(v, 0)
        search.finish(v, 0, Estimate(x, x - 0.05, x + 0.05, 10))
    (value, b), = search.propose()
    if batch is None:
        assert value not in search.batches and b == 0
    else:
        assert (value, b) == (109.0, batch)


@pytest.mark.parametrize("v_star, status", [(5000.0, ADMISSIBLE), (5.0, INADMISSIBLE)])
def test_no_crossing_in_the_range_is_reported_as_such(v_star, status):
    search = drive(make(), falling(v_star), se_one=0.01)
    assert search.status() == status and search.evaluations == 2
    assert all(math.isnan(x) for x in search.boundary())  # never a made-up boundary


def test_the_budget_ends_a_search_unconverged():
    search = drive(make(max_evaluations=4), falling(250.0), se_one=0.01)
    assert search.status() == NOT_CONVERGED and search.evaluations == 4


def test_linear_scale_and_the_below_side():
    rising = lambda p: 0.2 + p  # noqa: E731  admissible below 1: crossing at p = 0.8
    search = drive(make(lo=0.0, hi=1.0, log=False, integer=False, above=False), rising, se_one=0.005)
    value, low, high = search.boundary()
    assert search.status() == FOUND and abs(value - 0.8) <= 0.1 and low <= 0.8 <= high


# --------------------------------------------------------------------------- specs refused at parse time
SPEC = {"name": "b", "family": "gaussian", "loop": "fresh_data", "generations": 6, "replicates": 200, "n_ini": 50,
        "n_r": 20, "lam": 0.5, "params": {"gaussian": {"d": 2}},
        "search": {"knob": "n_s", "range": [2, 200], "statistic": "final:trace_cov", "threshold": 1.5,
                   "tolerance": 0.25, "max_evaluations": 20, "max_replicates": 400}}


@pytest.mark.parametrize("search, words", [
    ({"knob": "n_q"}, ["search.knob", "'n_q'", "n_s"]),
    ({"knob": "gaussian.nope"}, ["search.knob", "gaussian.nope", "d"]),
    ({"range": [100, 100]}, ["search.range", "[100.0, 100.0]", "lo < hi"]),
    ({"range": [300, 10]}, ["search.range", "[300.0, 10.0]", "lo < hi"]),
    ({"range": [0, 10]}, ["search.range", "lo > 0 on a log scale"]),
    ({"range": [1.5, 10]}, ["search.range", "integers"]),
    ({"statistic": "final:modes_covered"}, ["search.statistic", "final:modes_covered", "trace_cov"]),
    ({"statistic": "fid"}, ["search.statistic", "'fid'", "final:<metric>"]),
    ({"tolerance": 0}, ["search.tolerance", "0"]),
    ({"colour": "red"}, ["search", "unknown key 'colour'", "tolerance"]),
])
def test_bad_search_specs_are_refused(search, words):
    with pytest.raises(ConfigError) as e:
        parse_search({**SPEC, "search": {**SPEC["search"], **search}})
    assert all(w in str(e.value) for w in words), str(e.value)


def test_specs_refused_against_the_grid_and_the_family():
    with pytest.raises(ConfigError, match="also a grid axis"):
        parse_search({**SPEC, "grid": {"n_s": [10, 20]}})
    with pytest.raises(ConfigError, match="n_e / n_r needs the gaussian family"):
        parse_search({**SPEC, "family": "gmm", "search": {"range": [10, 200]}})
    with pytest.raises(ConfigError, match=r"search.n_s = 0.*n_s"):  # both ends are validated as trials
        parse_search({**SPEC, "loop": "fully_synthetic", "search": {**SPEC["search"], "range": [0, 10],
                                                                   "scale": "linear"}})
    with pytest.raises(ConfigError, match="madray search"):  # a plain run points to the right command
        parse_sweep(SPEC)


# --------------------------------------------------------------------------- on Ray Tune
@pytest.mark.slow
def test_search_on_tune_resumes_and_is_shown(ray_local, tmp_path, capsys):
    """fresh data, λ = 0.5: tr Σ̂ falls with n_s (the synthetic half scatters less); search where it is 1.5."""
    plan = parse_search(SPEC)
    out = run_search(plan, str(tmp_path), emit=lambda line: None)
    row = out.boundary.iloc[0]
    assert row["status"] == FOUND and row["low"] <= row["value"] <= row["high"] and not out.reused
    # every evaluation is an ordinary trial in the usual layout; the boundary sits where the trials cross
    df = load_results(out.root)
    assert df["trial_id"].nunique() == len(out.ran) == row["evaluations"]
    assert row["trial_generations"] == len(out.ran) * SPEC["generations"]
    final = df[df["generation"] == SPEC["generations"]].groupby("n_s")["trace_cov"].mean()
    assert final[final.index <= row["low"]].min() > 1.5 > final[final.index >= row["high"]].max()
    # a crash that lost one trial: the re-run reads the others and runs that one again, same boundary
    lost = out.ran[-1]
    shutil.rmtree(SweepFolder(out.root).trial_results(lost))
    shutil.rmtree(f"{out.root}/checkpoints/{lost}")
    again = run_search(plan, str(tmp_path), emit=lambda line: None)
    assert again.ran == [lost] and len(again.reused) == len(out.ran) - 1
    pd.testing.assert_frame_equal(again.boundary, out.boundary)
    pd.testing.assert_frame_equal(load_boundary(out.root), out.boundary)
    capsys.readouterr()
    assert main(["show", out.root]) == 0
    shown = capsys.readouterr().out
    assert "boundary search" in shown and FOUND in shown
    report, _ = write_report(out.root, str(tmp_path / "report.md"))
    assert "## Boundary search" in open(report).read()
    # the phase diagram draws the searched point with its interval bar, not an interpolated contour
    ax = phase_diagram(df, boundary=out.boundary).axes[0]
    (x,), (y,) = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    columns = np.array(sorted(df["n_s"].unique()), dtype=float)
    between = np.searchsorted(columns, row["value"])  # the point lies between the cells of its neighbours
    assert between - 0.5 <= x <= between + 0.5 and y == 0.5
    assert not any(isinstance(c, ContourSet) for c in ax.collections)
    (bar,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    (ends,) = bar.get_segments()
    assert ends[0][0] < x < ends[1][0] and ends[1][0] - ends[0][0] > 0.1  # the interval, around the point


def test_cli_search_dry_run(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "grid": {"lam": [0.5, 0.7]}}))
    assert main(["search", str(path), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "2 grid points" in printed and "n_s in [2, 200]" in printed
    assert main(["run", str(path)]) == 2
    assert "madray search" in capsys.readouterr().err


# --------------------------------------------------------------------------- against a dense grid
PHASE = {"name": "phase", "family": "gaussian", "loop": "fresh_data", "generations": 16, "replicates": 400,
         "n_ini": 100, "n_r": 100, "metrics": ["frechet"], "params": {"gaussian": {"d": 2}},
         "grid": {"lam": [0.7, 0.9, 1.0]},
         "search": {"knob": "n_s", "range": [10, 3000], "tolerance": 0.1, "max_replicates": 800}}


def dense_crossing(lam: float, lo: float, hi: float) -> float:
    """n_s where n_e / n_r crosses 1 on a geometric grid 5% apart (half the tolerance), read off by interpolation."""
    values = np.unique(np.round(np.geomspace(lo, hi, int(math.log(hi / lo) / math.log(1.05)) + 2)).astype(int))
    ratios = []
    for n_s in values:  # the same seed as the search's first batch
        cfg = trial_config(**{k: v for k, v in PHASE.items() if k not in ("name", "grid", "search")}, lam=lam,
                           n_s=int(n_s))
        rows = pd.DataFrame(run_trial(cfg)).assign(trial_id=f"n_s{n_s}", sweep="dense")
        ratios.append(effective_sample_size(rows)["ratio"].iloc[0])
    return grid_crossing(values, ratios)


@pytest.mark.slow
def test_search_matches_a_dense_grid(ray_local, tmp_path):
    """MAD Fig. 10's boundary n_s*(n_r = 100, λ): the search agrees with a dense grid within its tolerance."""
    out = run_search(parse_search(PHASE), str(tmp_path), emit=lambda line: None)
    table = out.boundary.set_index("lam")
    assert table.loc[1.0, "status"] == ADMISSIBLE and math.isnan(table.loc[1.0, "value"])
    for lam, (lo, hi) in {0.7: (40, 100), 0.9: (150, 350)}.items():
        row = table.loc[lam]
        grid = dense_crossing(lam, lo, hi)
        assert row["status"] == FOUND, row
        assert abs(math.log(row["value"] / grid)) <= math.log(1 + PHASE["search"]["tolerance"]), (row["value"], grid)
        assert row["low"] / 1.1 <= grid <= row["high"] * 1.1, (row["low"], grid, row["high"])
