"""Checkpoints restore a trial exactly; a killed sweep resumes without lost, duplicated or recomputed rows."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
import yaml
from helpers import trial_config

import madray
from madray.results.folder import SweepFolder
from madray.spec import dump_sweep, load_sweep, parse_sweep
from madray.sweep.checkpoint import CheckpointStore, decode, encode
from madray.trial import Trial, run_trial


@pytest.mark.parametrize("family, loop, extra", [
    ("gaussian", "accumulate", {}),
    ("gaussian", "memory", {"K": 2, "n_r": 5}),
    ("linreg", "accumulate_subsample", {"params": {"linreg": {"d": 3, "n_test": 50}}}),
    ("gmm", "fresh_data", {"n_r": 30, "params": {"gmm": {"warm_start": True, "em_iters": 5, "n_eval": 50}}}),
    ("gaussian", "fresh_data", {"n_r": 20}),  # the pool is drawn again from the model on resume
    ("gaussian", "fully_synthetic", {}),
])
def test_checkpoint_restores_a_trial_exactly(tmp_path, family, loop, extra):
    """Stop after generation 2, restore into a fresh Trial from the file, finish: rows equal an uninterrupted run."""
    cfg = trial_config(family=family, loop=loop, generations=5, replicates=3, n_ini=40, n_s=30, seed=7, **extra)
    first = Trial(cfg)
    rows = first.step() + first.step()
    store = CheckpointStore(SweepFolder(str(tmp_path)))
    store.save(cfg.trial_id, first.state_dict())
    second = Trial(cfg)
    second.load_state_dict(store.load_latest(cfg.trial_id))
    assert second.generation == 2 and len(second.synthetic) == len(first.synthetic)
    while not second.done:
        rows += second.step()
    assert rows == run_trial(cfg)  # bit-identical floats: every draw is seeded from (seed, generation, stream)
    assert first.redraws() == (family == "gaussian" and loop in ("fresh_data", "fully_synthetic"))
    assert len(first.state_dict()["synthetic"]) == (0 if first.redraws() else len(first.synthetic))



def test_only_an_uncurated_one_batch_pool_of_an_exact_family_is_drawn_again():
    base = {"family": "gaussian", "generations": 3, "replicates": 2, "n_ini": 20, "n_s": 10}
    assert Trial(trial_config(loop="fully_synthetic", **base)).redraws()
    assert not Trial(trial_config(loop="fully_synthetic", curate={"kind": "select", "keep": 0.5}, **base)).redraws()
    assert not Trial(trial_config(loop="memory", K=2, n_r=5, **base)).redraws()  # draws from two models
    assert not Trial(trial_config(loop="accumulate", **base)).redraws()
    assert not Trial(trial_config(**{**base, "family": "gmm", "n_ini": 40, "n_s": 30}, loop="fully_synthetic")).redraws()
    state = Trial(trial_config(loop="fully_synthetic", **base))
    state.step()
    assert decode(encode(state.state_dict()))["redraw"] is True


def test_encode_roundtrip_with_torch_state_and_no_pickle():
    saved = {
        "generation": 3,
        "state": {"w": np.arange(6.0).reshape(2, 3), "net": torch.ones(2, 2),
                  "opt": {"state": {0: {"step": torch.tensor(4.0)}}, "param_groups": [{"lr": 1e-3, "params": [0]}]}},
        "real_initial": {"x": np.ones((2, 4, 1), dtype=np.float32)},
        "synthetic": [{"x": np.zeros((2, 1, 1))}, {"x": np.full((2, 2, 1), 5.0)}],
    }
    back = decode(encode(saved))
    assert back["generation"] == 3 and back["synthetic"][1]["x"].shape == (2, 2, 1)
    np.testing.assert_array_equal(back["state"]["w"], saved["state"]["w"])
    assert back["real_initial"]["x"].dtype == np.float32
    assert torch.equal(back["state"]["net"], torch.ones(2, 2))
    assert back["state"]["opt"]["param_groups"][0]["lr"] == 1e-3
    assert float(back["state"]["opt"]["state"][0]["step"]) == 4.0
    with pytest.raises(TypeError, match="object array"):
        encode({**saved, "state": {"bad": np.array([None, 1])}})
    with pytest.raises(TypeError, match="nests numpy arrays"):
        encode({**saved, "state": {"bad": {"a": np.ones(2)}}})


def test_store_keeps_the_newest_two_and_skips_unreadable_files(tmp_path):
    store = CheckpointStore(SweepFolder(str(tmp_path)))
    saved = {"generation": 1, "state": {"m": np.ones(2)}, "real_initial": {}, "synthetic": []}
    for generation in (1, 2, 3):
        store.save("t", {**saved, "generation": generation})
    assert store.generations("t") == [3, 2]  # the previous one stays as the fallback
    Path(store.path("t", 4)).write_bytes(b"half a file")  # not how we write, but never trust a file
    warnings = []
    assert store.load_latest("t", warn=warnings.append)["generation"] == 3
    assert len(warnings) == 1 and store.path("t", 4) in warnings[0]
    assert store.load_latest("other") is None


def test_output_folder_resumes_the_same_sweep_and_refuses_another(tmp_path):
    same = dump_sweep(parse_sweep(SWEEP))
    other = dump_sweep(parse_sweep({**SWEEP, "generations": 7}))
    root = str(tmp_path / "killme")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        SweepFolder(root).prepare(same, resume=True)
    assert SweepFolder(root).prepare(same) is False  # a new run
    assert SweepFolder(root).prepare(same) is True and SweepFolder(root).prepare(same, resume=True) is True
    with pytest.raises(FileExistsError, match=r"different sweep \(spec.generations: 60 there, 7 now\).*--overwrite"):
        SweepFolder(root).prepare(other)
    assert SweepFolder(root).prepare(other, overwrite=True) is False
    assert SweepFolder(root).prepare(other) is True


# --------------------------------------------------------------------------- kill and resume
G = 60
SWEEP = {  # accumulate: the checkpoint must carry the whole synthetic pool
    "name": "killme", "family": "gaussian", "loop": "accumulate", "generations": G, "replicates": 4,
    "n_ini": 100, "n_s": 100, "seed": 3, "params": {"gaussian": {"d": 4}}, "grid": {"lam": [1.0, 0.9, 0.8]},
}


def _snapshot(root: Path) -> dict:
    files = {p: p.stat().st_mtime_ns for p in root.glob("results/trial_id=*/gen-*.parquet")}
    checkpointed: dict[str, int] = {}
    for p in root.glob("checkpoints/*/gen-*.npz"):  # a trial keeps its newest checkpoint and the one before
        checkpointed[p.parent.name] = max(checkpointed.get(p.parent.name, 0), int(p.stem[4:]))
    return files, checkpointed


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run and every process it started (Ray's GCS, raylet and workers), all at once."""
    family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in family:  # Ray may start its daemons in sessions of their own, outside the run's group
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in family):
            return
        time.sleep(0.1)
    raise AssertionError("processes of the killed run are still alive")


def _assert_rows_of_an_uninterrupted_run(df, sweep_file: Path) -> None:
    assert len(df) == 3 * 4 * G and not df.duplicated(["trial_id", "replicate", "generation"]).any()
    for cfg in load_sweep(sweep_file).trials:
        ref = sorted(run_trial(cfg), key=lambda r: (r["replicate"], r["generation"]))
        got = df[df["trial_id"] == cfg.trial_id]
        np.testing.assert_array_equal(got["trace_cov"].to_numpy(), [r["trace_cov"] for r in ref])


def _run_and_kill(tmp_path: Path, after: int = 0) -> tuple[Path, Path, list[str]]:
    """Start `madray run` on SWEEP and SIGKILL it once a trial has checkpointed a generation in
    (after, G/2): the sweep file, the sweep folder and the command that resumes it."""
    sweep_file = tmp_path / "kill.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    out, root = tmp_path / "out", tmp_path / "out" / "killme"
    cmd = [sys.executable, "-m", "madray.cli.main", "run", str(sweep_file), "--out", str(out)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # kill in the middle of a trial: a fast machine finishes a whole trial between two looser polls
    while not any(after < g < G // 2 for g in _snapshot(root)[1].values()):
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    _kill_group(proc)
    return sweep_file, root, cmd


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_without_gaps_duplicates_or_recomputation(tmp_path):
    sweep_file, root, cmd = _run_and_kill(tmp_path)
    before, checkpointed = _snapshot(root)
    assert any(0 < g < G for g in checkpointed.values()), checkpointed  # killed in the middle of a trial

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming" in done.stdout

    df = madray.load_results(str(root))
    after, _ = _snapshot(root)
    recomputed = []
    for path, mtime in before.items():
        generation, trial = int(path.stem[4:]), path.parent.name.split("=")[1]
        if generation <= checkpointed.get(trial, 0):
            assert after[path] == mtime, f"{path} was finished (checkpointed) and was rewritten"
        elif after[path] != mtime:
            recomputed.append(path)
    assert len(recomputed) <= 3  # at most the one generation per trial written after its last checkpoint
    _assert_rows_of_an_uninterrupted_run(df, sweep_file)


@pytest.mark.slow
def test_a_damaged_newest_checkpoint_after_sigkill_is_named_and_the_run_resumes(tmp_path):
    """Issue 30 (7), end to end: the warning from the trial's Ray worker reaches the driver's output."""
    sweep_file, root, cmd = _run_and_kill(tmp_path, after=2)
    trial, generation = next((t, g) for t, g in _snapshot(root)[1].items() if 2 < g < G)
    newest = root / "checkpoints" / trial / f"gen-{generation:06d}.npz"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"checkpoint {newest}" in output and f"resuming from generation {generation - 1}'s checkpoint" in output, output
    df = madray.load_results(str(root))
    _assert_rows_of_an_uninterrupted_run(df, sweep_file)
