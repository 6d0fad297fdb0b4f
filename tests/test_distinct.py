"""Distinct trials: a knob a trial's loop and family do not declare changes none of its numbers,
so grid points that differ only there are merged into one trial (madray.spec.normalise)."""

import dataclasses

import pytest
from deep_helpers import TINY, deep_config
from helpers import trial_config

from madray.config import OPTIONAL_KNOBS, TrialConfig
from madray.loops import LOOPS
from madray.models import FAMILIES, family_class
from madray.spec import load_sweep, normalise, parse_sweep, reads
from madray.trial import run_trial

# Base values and changed values of the optional knobs; every loop accepts both (n_r <= n_ini, K < t).
BASE = {"n_r": 20, "n_s": 30, "K": 2, "p": 0.5}
CHANGED = {"n_r": 25, "n_s": 40, "K": 3, "p": 0.25}
ANALYTIC = ["gaussian", "gmm", "linreg"]
DEEP = [f for f in FAMILIES if f not in (*ANALYTIC, "command")]  # command: tests/test_byom_command.py
SMALL = {"gmm": {"em_iters": 5, "n_eval": 50}, "linreg": {"d": 3, "n_test": 50}, "gaussian": {"d": 2}}


def numbers(cfg: TrialConfig) -> list[tuple]:
    """Every metric value of a run, keyed by (generation, replicate); config columns left out."""
    metrics = cfg.metrics or family_class(cfg.family).metric_names
    return [(r["generation"], r["replicate"], *(r[m] for m in metrics)) for r in run_trial(cfg)]


def raw(cfg: TrialConfig, **knobs) -> TrialConfig:
    """`cfg` with knobs set as written, bypassing the normalisation parse_sweep does."""
    return dataclasses.replace(cfg, **knobs)


def base_config(family: str, loop: str, cache_dir: str | None = None) -> TrialConfig:
    if family in TINY:
        cfg = deep_config(family, cache_dir, params=TINY[family], n_ini=30, n_s=30, generations=4)
        return raw(cfg, loop=loop, **BASE)
    cfg = trial_config(family=family, loop=loop, generations=4, replicates=3, n_ini=30, n_r=BASE["n_r"], seed=3,
                       params={family: SMALL[family]})
    return raw(cfg, **BASE)


def assert_undeclared_knobs_change_nothing(cfg: TrialConfig) -> None:
    unread = [k for k in OPTIONAL_KNOBS if k not in reads(cfg)]
    reference = numbers(cfg)
    assert numbers(raw(cfg, **{k: CHANGED[k] for k in unread})) == reference, unread
    # the check can fail: each declared knob does change the numbers
    for knob in reads(cfg):
        assert numbers(raw(cfg, **{knob: CHANGED[knob]})) != reference, knob


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_every_loop_reads_only_what_it_declares(loop):
    assert_undeclared_knobs_change_nothing(base_config("gaussian", loop))


@pytest.mark.parametrize("family", ANALYTIC)
def test_every_analytic_family_reads_only_what_it_declares(family):
    # memory reads n_r, n_s and K: the family's own reads are what is left (p)
    assert_undeclared_knobs_change_nothing(base_config(family, "memory"))


@pytest.mark.slow
@pytest.mark.parametrize("family", DEEP)
def test_every_deep_family_reads_only_what_it_declares(family, madray_cache):
    assert_undeclared_knobs_change_nothing(base_config(family, "mixture", madray_cache))


def test_declared_knobs_are_optional_knobs():
    for cls in LOOPS.values():
        assert set(cls.uses) <= set(OPTIONAL_KNOBS), cls
    for name in FAMILIES:
        assert set(family_class(name).uses) <= set(OPTIONAL_KNOBS), name


def test_quickstart_merges_the_fully_synthetic_n_r_duplicates():
    sweep = load_sweep("sweeps/quickstart.yaml")
    assert sweep.size_line() == "32 grid points, 24 distinct trials; n_r does not affect fully_synthetic"
    ids = [t.trial_id for t in sweep.trials]
    assert "t000" in ids[0] and not any(i.startswith("t002-") for i in ids)  # t002 repeats t000
    counts = dict(zip(ids, sweep.grid_points))
    assert sum(counts.values()) == 32 and counts[ids[0]] == 2
    for t in sweep.trials:  # result rows carry the normalised value
        assert t.n_r == (0 if t.loop == "fully_synthetic" else t.n_r) and counts[t.trial_id] == (2 if t.loop == "fully_synthetic" else 1)


def test_another_familys_params_merge_and_distinct_configs_stay():
    sweep = parse_sweep({"name": "m", "family": "gaussian", "loop": "mixture", "n_ini": 30, "generations": 2,
                         "grid": {"family": ["gaussian", "gmm"], "gaussian.d": [2, 3], "n_s": [5, 6], "p": [0.2, 0.4]}})
    assert sweep.n_grid_points == 16 and len(sweep.trials) == 2 * 2 + 2  # gaussian: d x p; gmm: p
    assert sweep.notes == ("gaussian.d does not affect gmm", "n_s does not affect mixture")
    assert all(t.n_s == TrialConfig.__dataclass_fields__["n_s"].default for t in sweep.trials)
    assert normalise(sweep.trials[0]) == sweep.trials[0]


def test_a_bad_unread_value_is_still_an_error():
    with pytest.raises(Exception, match="n_r"):
        parse_sweep({"name": "m", "family": "gaussian", "loop": "fully_synthetic", "n_r": -1})
