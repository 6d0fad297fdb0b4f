"""`ray job submit --working-dir <repo> -- madray run ...` against a Ray head this test starts (and stops)."""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from test_s3 import free_port, wait_for_port

import madray

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"

REPO = Path(__file__).parents[1]
BIN = Path(sys.executable).parent  # ray and madray of this environment
SWEEP = {
    "name": "submitted", "family": "gaussian", "loop": "fresh_data", "generations": 3, "replicates": 2,
    "n_ini": 20, "n_r": 10, "n_s": 10, "params": {"gaussian": {"d": 2}}, "grid": {"lam": [1.0, 0.5]},
}
PORT_OPTIONS = ["--port", "--dashboard-port", "--ray-client-server-port", "--dashboard-agent-listen-port",
                "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port",
                "--node-manager-port", "--object-manager-port"]


@pytest.fixture()
def ray_head(tmp_path):
    """`ray start --head --block` on free ports, in its own process group; stopped by signalling that group
    (never `ray stop`, which stops every Ray on the machine)."""
    ports = {opt: free_port() for opt in PORT_OPTIONS}
    token = tmp_path / "auth_token"  # token auth, with a token of this test's own (not ~/.ray/auth_token)
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    env.pop("RAY_AUTH_TOKEN", None)
    # Its own temp dir: `ray start` records its address in <temp dir>/ray_current_cluster, which every later
    # plain ray.init() on the machine would try to join; a short path keeps its Unix sockets under 108 bytes.
    temp_dir = tempfile.mkdtemp(prefix="rayjob-", dir="/tmp")
    cmd = [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus=2", "--dashboard-host=127.0.0.1",
           f"--temp-dir={temp_dir}", *(f"{opt}={port}" for opt, port in ports.items())]
    head = subprocess.Popen(cmd, start_new_session=True, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "head.log", "w"))
    try:
        wait_for_port(ports["--dashboard-port"], timeout=90)
        yield f"http://127.0.0.1:{ports['--dashboard-port']}", env
    finally:
        os.killpg(head.pid, signal.SIGINT)  # `ray start --block` stops its processes in ~3 s (SIGTERM: ~60 s)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(head.pid, 0)  # the group still has members (raylet, GCS, workers)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_job_submission_runs_a_sweep(ray_head, tmp_path):
    address, env = ray_head
    sweep = tmp_path / "submitted.yaml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "out"
    submit = [str(BIN / "ray"), "job", "submit", "--address", address, "--submission-id", "madray-test",
              "--working-dir", str(REPO), "--", "madray", "run", str(sweep), "--out", str(out)]
    done = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ask = ("from ray.job_submission import JobSubmissionClient as C; "
           f"print(C({address!r}).get_job_status('madray-test').value)")
    status = subprocess.run([sys.executable, "-c", ask], env=env, capture_output=True, text=True, timeout=60)
    assert status.stdout.split()[-1:] == ["SUCCEEDED"], status.stdout + status.stderr
    assert "12 rows from 2 trials" in done.stdout
    # a client without the cluster's token is turned away
    stranger = {**env, "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    stranger.pop("RAY_AUTH_TOKEN_PATH")
    denied = subprocess.run([str(BIN / "ray"), "job", "list", "--address", address],
                            env=stranger, capture_output=True, text=True, timeout=60)
    assert denied.returncode != 0 and "auth" in (denied.stdout + denied.stderr).lower()
    df = madray.load_results(str(out / "submitted"))
    assert len(df) == 2 * 2 * 3 and not df.duplicated(["trial_id", "replicate", "generation"]).any()
