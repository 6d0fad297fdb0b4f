"""Issue 11, network exposure: an embedded sweep listens on loopback only and writes no ~/.ray/auth_token."""

import os
import subprocess
import sys
import time

import psutil
import pytest
import yaml
from helpers import is_loopback, listening

SWEEP = {"name": "net", "family": "gaussian", "loop": "fully_synthetic", "generations": 300, "replicates": 2,
         "n_ini": 50, "n_s": 50, "grid": {"lam": [1.0, 0.9]}}


def test_loopback_check_can_fail():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not any(is_loopback(ip) for ip in ("0.0.0.0", "::", "192.0.2.2", "::ffff:192.0.2.2"))


@pytest.mark.slow
def test_an_embedded_sweep_listens_on_loopback_only(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(tmp_path / "home"), RAY_ADDRESS="")  # a user without ~/.ray and without a cluster
    cmd = [sys.executable, "-m", "madray.cli.main", "run", str(path), "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not list((tmp_path / "out" / "net").glob("results/*/gen-*.parquet")):  # the trials are running
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.1)
        sockets = listening(psutil.Process(proc.pid))
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    assert proc.returncode == 0, output
    names = {name for name, _, _ in sockets}
    assert {"gcs_server", "raylet"} <= names, sockets  # the listing saw Ray's own servers
    exposed = [s for s in sockets if not is_loopback(s[1])]
    assert not exposed, exposed
    assert not (tmp_path / "home" / ".ray").exists()  # the token lived in the environment only


def test_the_test_sessions_ray_writes_no_token_file(tmp_path):
    """conftest's ray_local is a plain ray.init(): with the session token in the environment it writes
    nothing under ~/.ray (without it, Ray 2.60 writes ~/.ray/auth_token)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(tmp_path / "home"), RAY_ADDRESS="", RAY_USAGE_STATS_ENABLED="0")
    tests = os.path.dirname(os.path.abspath(__file__))
    code = (f"import sys; sys.path.insert(0, {tests!r}); import conftest, ray; "
            "ray.init(address='local', num_cpus=1, include_dashboard=False, logging_level='ERROR'); "
            "print(ray.cluster_resources()['CPU']); ray.shutdown()")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split()[-1] == "1.0", done.stderr
    assert not (tmp_path / "home" / ".ray").exists()
