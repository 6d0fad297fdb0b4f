"""examples/command_loop end to end: the user's MNIST programs in a real sweep, SIGKILLed mid-run and
re-run: exactly one row per (trial, replicate, generation) and no finished step run twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

import madray
from tests.byom_helpers import REPO, environment
from tests.test_resume import _kill_group

EXAMPLE = REPO / "examples" / "command_loop"
COUNT = Path(__file__).parent / "byom_programs" / "count.py"
GENERATIONS = 3


def counted_sweep(tmp_path: Path, cache: str) -> tuple[Path, Path]:
    """The example's sweep at test size, each program started through count.py."""
    spec = yaml.safe_load((EXAMPLE / "sweep.yaml").read_text())
    counter = tmp_path / "invocations.txt"
    spec.update(generations=GENERATIONS, replicates=1, n_ini=200, n_s=200)
    cmd = spec["params"]["command"]
    for step in ("train", "sample"):
        argv = [sys.executable if a == "python" else str(REPO / a) if a.startswith("examples/") else a for a in cmd[step]]
        cmd[step] = [sys.executable, str(COUNT), str(counter), *argv]
    cmd.update(n_eval=200, n_ref=300, cache_dir=cache)
    path = tmp_path / "command_loop.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, counter


def finished_steps(root: Path) -> set[str]:
    """The program argv (as count.py records it) of every step with a manifest."""
    return {json.dumps(json.loads(m.read_text())["argv"][3:]) for m in root.glob("work/*/gen-*/rep-*/*.json")}


@pytest.mark.slow
def test_command_loop_example_killed_and_rerun(tmp_path, madray_cache):
    sweep, counter = counted_sweep(tmp_path, madray_cache)
    out, env = tmp_path / "out", environment()
    cmd = [sys.executable, "-m", "madray.cli.main", "run", str(sweep), "--out", str(out)]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 900  # the first run of a session trains the LeNet (21 s on 2 idle cores)
    while time.monotonic() < deadline and proc.poll() is None and (
            not counter.exists() or len(counter.read_text().splitlines()) < 12):
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    _kill_group(proc)
    root = out / "command_loop"
    done_before = finished_steps(root)
    assert 0 < len(done_before) < 4 * (3 * GENERATIONS - 1)
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    df = madray.load_results(str(root))
    assert len(df) == 4 * GENERATIONS and not df.duplicated(["trial_id", "replicate", "generation"]).any()
    assert sorted(df.groupby(["loop", "lam"]).size().items()) == [
        (("accumulate", 0.8), 3), (("accumulate", 1.0), 3), (("fully_synthetic", 0.8), 3), (("fully_synthetic", 1.0), 3)]
    assert np.isfinite(df["fid"]).all() and df[["precision", "recall"]].stack().between(0, 1).all()
    runs = Counter(counter.read_text().splitlines())
    assert all(runs[step] == 1 for step in done_before)  # finished before the kill: not run again
    assert set(runs) == finished_steps(root) and max(runs.values()) <= 2  # at most the steps in flight twice
    # accumulate's generation 3 trains on n_ini real + n_s of each earlier generation, as PNG files
    (acc,) = set(df[(df.loop == "accumulate") & (df.lam == 1.0)].trial_id)
    assert len(list((root / "work" / acc / "gen-000003" / "rep-000" / "train_data").glob("*.png"))) == 600
