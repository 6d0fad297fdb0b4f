"""Issue 30, the runner's faults: SIGINT / SIGTERM stop at a generation boundary and resume exactly; a
broken Tune state never blocks a resume; a full disk ends with one message and resumes elsewhere."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import madray
from madray.spec import parse_sweep
from madray.trial import run_trial

SWEEP = {"name": "faults", "family": "gaussian", "loop": "accumulate", "generations": 60, "replicates": 10,
         "n_ini": 400, "n_s": 400, "params": {"gaussian": {"d": 20}}, "grid": {"lam": [1.0, 0.9, 0.8, 0.7]}}


def reference(spec):
    """The rows of an uninterrupted run, computed without Ray (a trial is a plain function)."""
    rows = [r for cfg in parse_sweep(spec).trials for r in run_trial(cfg)]
    return sorted((r["trial_id"], r["replicate"], r["generation"], r["trace_cov"]) for r in rows)


def loaded(root):
    df = madray.load_results(str(root))
    return sorted(zip(df.trial_id, df.replicate, df.generation, df.trace_cov))


def madray_cli(*args, env=None):
    env = {**(env or os.environ), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "madray.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def write_spec(tmp_path, spec):
    path = tmp_path / "faults.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def wait_for_results(root: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(root.glob("results/*/gen-*.parquet"))) >= 2:
            return
        time.sleep(0.05)
    raise AssertionError("no results appeared")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_at_a_generation_boundary_and_the_rerun_resumes_exactly(tmp_path, signum):
    spec_file, out = write_spec(tmp_path, SWEEP), tmp_path / "out"
    child = madray_cli("run", str(spec_file), "--out", str(out))
    wait_for_results(out / "faults")
    child.send_signal(signum)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 128 + signum, (stdout[-2000:], stderr[-3000:])
    assert "Traceback" not in stderr and "Tuner.restore" not in stdout + stderr, stderr[-3000:]
    assert f"stopped by {signal.Signals(signum).name} at a generation boundary" in stderr
    assert "run the same command again" in stderr
    partial = loaded(out / "faults")
    assert 0 < len(partial) < len(reference(SWEEP))  # the signal came mid-sweep
    assert not list(out.glob("faults/.madray-stop")) and not list(out.glob("faults/**/.tmp-*"))
    again = madray_cli("run", str(spec_file), "--out", str(out))
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr[-3000:]
    assert loaded(out / "faults") == reference(SWEEP)  # one row per (trial, replicate, generation), exact


@pytest.mark.slow
def test_a_broken_tune_state_never_blocks_a_resume(tmp_path):
    spec = {**SWEEP, "generations": 6}
    spec_file, out = write_spec(tmp_path, spec), tmp_path / "out"
    first = madray_cli("run", str(spec_file), "--out", str(out))
    assert first.wait(timeout=600) == 0
    root = out / "faults"
    for state in root.glob("_tune/**/*.json"):  # cut as a full disk cut it
        state.write_bytes(state.read_bytes()[:100])
    (root / "_tune" / "tune" / "experiment_state-garbage.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "_tune" / "tune" / "experiment_state-garbage.json").write_text("{\"trial")
    lost = sorted(p.name for p in root.glob("results/trial_id=*"))[0].split("=")[1]
    for folder in ("checkpoints", "samples"):
        shutil.rmtree(root / folder / lost)
    shutil.rmtree(root / "results" / f"trial_id={lost}")
    again = madray_cli("run", str(spec_file), "--out", str(out))
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr[-3000:]
    assert "3 of 4 trials done or failed already" in stdout
    assert loaded(root) == reference(spec)


@pytest.fixture()
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 3 MB tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_ends_with_one_message_and_the_run_resumes_on_a_bigger_one(tmp_path, small_disk):
    spec = {**SWEEP, "generations": 12}
    spec_file = write_spec(tmp_path, spec)
    child = madray_cli("run", str(spec_file), "--out", str(small_disk))
    stdout, stderr = child.communicate(timeout=600)
    assert child.returncode == 2, (stdout[-2000:], stderr[-3000:])
    assert "Traceback" not in stderr and stderr.count("\n") <= 3, stderr[-3000:]
    assert f"the disk holding {small_disk}/faults is full" in stderr and "more for its" in stderr, stderr
    assert not list(small_disk.glob("faults/**/.tmp-*"))
    big = tmp_path / "big"
    shutil.copytree(small_disk, big)
    again = madray_cli("run", str(spec_file), "--out", str(big))
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr[-3000:]
    assert loaded(big / "faults") == reference(spec)


KILLER = '''
import os, signal
from madray.models.gaussian import Gaussian


class KillOnce(Gaussian):
    """The Gaussian, whose worker process dies (SIGKILL, as the OOM killer does) at its 4th fit, once."""

    def fit(self, data, previous, rng):
        count = os.path.join(os.environ["KILL_DIR"], "fits")
        with open(count, "a") as f:
            f.write("x")
        if os.path.getsize(count) == 4 and not os.path.exists(os.path.join(os.environ["KILL_DIR"], "killed")):
            open(os.path.join(os.environ["KILL_DIR"], "killed"), "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(data, previous, rng)
'''


@pytest.mark.slow
def test_a_killed_worker_gets_one_line_and_its_trial_resumes_from_its_checkpoint(tmp_path):
    (tmp_path / "killonce.py").write_text(KILLER)
    spec = {**SWEEP, "family": "killonce:KillOnce", "generations": 6, "grid": {},
            "params": {"killonce:KillOnce": {"d": 20}}}
    spec_file, out = write_spec(tmp_path, spec), tmp_path / "out"
    env = {**os.environ, "KILL_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    child = madray_cli("run", str(spec_file), "--out", str(out), env=env)
    stdout, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, (stdout[-2000:], stderr[-3000:])
    assert (tmp_path / "killed").exists()
    assert "its Ray worker died (" in stdout and "it runs again from its checkpoint after generation 3" in stdout, stdout
    assert "Traceback" not in stdout + stderr and "ActorDiedError" not in stdout + stderr, stdout + stderr
    os.environ["KILL_DIR"] = str(tmp_path)  # the reference run below must not be killed: "killed" exists
    sys.path.insert(0, str(tmp_path))
    try:
        assert loaded(out / "faults") == reference(spec)
    finally:
        sys.path.remove(str(tmp_path))
        del os.environ["KILL_DIR"]
