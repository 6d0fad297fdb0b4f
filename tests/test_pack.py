"""Packs of cheap trials: which trials are packed, the closed-form cost, and a packed sweep through Tune
(rows, a failing config, a config resumed from its checkpoint, per-trial progress lines)."""

import types

import numpy as np
import pytest
import yaml

import madray
from madray.cli.main import main
from madray.loops import LOOPS
from madray.results.folder import SweepFolder
from madray.results.schema import file_schema
from madray.results.store import load_failures
from madray.spec import dump_sweep, load_sweep, parse_sweep
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.cost import FamilyCost, total_work, trial_seconds, work
from madray.sweep.experiment import results_schema
from madray.sweep.pack import LONG_S, PACKS_PER_WORKER, make_units, members, unit_config
from madray.sweep.progress import Progress
from madray.sweep.runner import tune_units
from madray.trial import Trial, run_trial

BASE = {"name": "packs", "family": "gaussian", "loop": "fresh_data", "generations": 3, "replicates": 2,
        "n_ini": 20, "n_r": 10, "n_s": 10, "seed": 2, "params": {"gaussian": {"d": 2}}}


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("family", ["gaussian", "gmm", "linreg", "flow"])
@pytest.mark.parametrize("generations", [1, 2, 3, 7])
def test_total_work_closed_form_is_the_per_generation_sum(loop, family, generations):
    spec = {**BASE, "family": family, "loop": loop, "generations": generations, "n_ini": 60, "n_r": 30, "n_s": 40,
            "K": 2, "params": {"linreg": {"d": 3}}}
    cfg = parse_sweep(spec).trials[0]
    brute = sum(work(cfg, t) for t in range(1, generations + 1))
    assert total_work(cfg) == pytest.approx(brute, rel=1e-12)
    assert trial_seconds(cfg, FamilyCost(0.5, 2.0, 1)) == pytest.approx(0.5 * generations + 2.0 * brute)


def test_cheap_trials_go_to_balanced_packs_and_long_ones_run_alone():
    sweep = parse_sweep({**BASE, "grid": {"lam": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5], "seed": [1, 2, 3]}})
    trials = sweep.trials
    seconds = {c.trial_id: 0.1 * (i + 1) for i, c in enumerate(trials)}
    seconds[trials[0].trial_id] = LONG_S  # long: alone
    unknown = trials[1].trial_id  # no estimate (a deep family): alone, first
    units = make_units(trials, lambda resources: 2, lambda c: None if c.trial_id == unknown else seconds[c.trial_id])
    assert units[0] == (trials[1],) and (trials[0],) in units
    packs = [u for u in units if len(u) > 1]
    assert len(units) == 2 + PACKS_PER_WORKER * 2 and sorted(c.trial_id for p in units for c in p) == sorted(seconds)
    loads = [sum(seconds[c.trial_id] for c in p) for p in units[1:]]  # longest first
    assert loads == sorted(loads, reverse=True)
    packed = [sum(seconds[c.trial_id] for c in p) for p in packs]
    assert max(packed) - min(packed) <= 0.3  # LPT: within the smallest trials' size
    for p in packs:  # grid order inside a pack
        assert [c.trial_id for c in p] == sorted(c.trial_id for c in p)
    # few cheap trials: every one alone; a unit of one is named after its trial, a pack after its position
    assert all(len(u) == 1 for u in make_units(trials[:4], lambda r: 2, lambda c: 0.1))
    alone = unit_config(units[0], 0)
    assert alone["trial_id"] == trials[1].trial_id and members(alone) == [trials[1].to_dict()]
    config = unit_config(packs[0], 7)
    assert config["trial_id"] == f"pack007-{packs[0][0].trial_id}" and len(members(config)) == len(packs[0])


def pack_trial(config):
    return types.SimpleNamespace(config={"trial": config}, error_msg="RayActorError: worker died")


def test_progress_shows_a_packs_configs_as_trials():
    lines = []
    config = {"trial_id": "pack000-a", "pack": [{"trial_id": t, "generations": 2} for t in "abc"]}
    prog = Progress({t: f"x={t}" for t in "abc"}, ["m"], {t: 2 for t in "abc"}, emit=lines.append)
    trial = pack_trial(config)
    prog.on_trial_start(0, [], trial)
    assert prog.tally.running == {"a"}
    prog.on_trial_result(0, [], trial, {"generation": 3, "events": [
        {"trial_id": "a", "generation": 2, "finished": True, "m": 1.0},
        {"trial_id": "b", "generation": 1, "failed": "exception at generation 1: ValueError: x"},
        {"trial_id": "c", "generation": 1, "finished": False, "m": 2.0}]})
    prog.on_trial_error(0, [], trial)  # the worker died during c: only c crashed
    text = "\n".join(lines)
    assert "a x=a finished  m=1" in text and "b FAILED (exception at generation 1" in text
    assert "c CRASHED: RayActorError" in text and "a CRASHED" not in text and "b CRASHED" not in text
    assert prog.tally.finished == {"a"} and prog.tally.failed == {"b", "c"} and prog.tally.done["c"] == 1


# --------------------------------------------------------------------------- through Tune
# 2 CPUs, 12 trials of milliseconds: 4 packs of 3. λ = 1e300 overflows the Gaussian at generation 3 (test_failures).
SWEEP = {**BASE, "loop": "replace", "generations": 4, "grid": {"lam": [1.0, 0.9, 0.8, 0.7, 0.6, 1e300], "seed": [1, 2]}}


@pytest.mark.slow
def test_a_packed_sweep_keeps_rows_failures_resume_and_lines_per_trial(ray_local, tmp_path, capsys):
    path = tmp_path / "packs.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    sweep = load_sweep(path)
    assert sum(len(members(u)) > 1 for u in tune_units(sweep)) == 4
    out, root = tmp_path / "out", tmp_path / "out" / "packs"
    # one trial was half done by an earlier run: its generations 1-2 are kept, not recomputed
    early = next(c for c in sweep.trials if c.lam == 0.8)
    folder = SweepFolder(str(root))
    folder.prepare(dump_sweep(sweep), results_schema(sweep))  # what an interrupted run left
    store = CheckpointStore(folder)
    half = Trial(early)
    for _ in range(2):
        folder.write_rows(early.trial_id, half.generation + 1, half.step(), file_schema(results_schema(sweep)))
    store.save(early.trial_id, half.state_dict())
    kept = {p: p.stat().st_mtime_ns for p in root.glob(f"results/trial_id={early.trial_id}/gen-*.parquet")}
    assert main(["run", str(path), "--out", str(out)]) == 1  # 2 failed trials: exit 1
    printed = capsys.readouterr().out
    assert "2 trial(s) failed" in printed
    assert sum(" finished " in line for line in printed.splitlines()) == 10
    assert sum(" FAILED (" in line for line in printed.splitlines()) == 2
    df = madray.load_results(str(root))
    failures = load_failures(str(root))
    assert sorted(failures["kind"]) == ["exception", "exception"]
    assert set(failures["trial_id"]) == {c.trial_id for c in sweep.trials if c.lam == 1e300}
    for cfg in sweep.trials:
        got = df[df["trial_id"] == cfg.trial_id].sort_values(["generation", "replicate"])
        if cfg.lam == 1e300:
            assert got["generation"].max() == 2
            continue
        want = sorted(run_trial(cfg), key=lambda r: (r["generation"], r["replicate"]))
        np.testing.assert_array_equal(got["trace_cov"].to_numpy(), [r["trace_cov"] for r in want])
    for p, mtime in kept.items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was recomputed"
    # a re-run resumes: nothing left to do, the failures are final and unchanged
    stamps = {p: p.stat().st_mtime_ns for p in root.glob("failures/*.json")}
    assert main(["run", str(path), "--out", str(out)]) == 1
    assert "resuming" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in root.glob("failures/*.json")} == stamps
    assert len(madray.load_results(str(root))) == len(df)
