"""Results, checkpoints and failure records on s3:// (a local moto server), read back with load_results."""

import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import ray

import madray
from madray.results.folder import SweepFolder
from madray.spec import parse_sweep
from madray.sweep import run_sweep
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.samples import SampleStore
from madray.trial import run_trial

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"

BUCKET = "madray-test"
SWEEP = {
    "name": "ons3", "family": "gaussian", "loop": "accumulate", "generations": 3, "replicates": 2,
    "n_ini": 20, "n_s": 10, "seed": 2, "params": {"gaussian": {"d": 2}}, "grid": {"lam": [1.0, 0.5]},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture()
def s3_uri(monkeypatch):
    """A moto S3 server on a free local port; pyarrow and boto3 find it through AWS_ENDPOINT_URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(key, value)
    try:
        wait_for_port(port)
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        ray.shutdown()  # Ray's workers must start with this environment
        yield f"s3://{BUCKET}/runs"
    finally:
        ray.shutdown()
        server.terminate()
        server.wait()


def test_sweep_on_s3_loads_back_and_resumes(s3_uri):
    sweep = parse_sweep(SWEEP)
    outcome = run_sweep(sweep, s3_uri, emit=lambda line: None)
    assert outcome.root == f"{s3_uri}/ons3" and not outcome.failed and not outcome.resumed
    df = madray.load_results(outcome.root)
    assert len(df) == 2 * 2 * 3
    store = CheckpointStore(SweepFolder(outcome.root))
    for cfg in sweep.trials:
        want = sorted(run_trial(cfg), key=lambda r: (r["replicate"], r["generation"]))
        np.testing.assert_array_equal(df[df["trial_id"] == cfg.trial_id]["trace_cov"], [r["trace_cov"] for r in want])
        # the checkpoint, on S3, refers to the accumulated pool's files
        saved = SampleStore(SweepFolder(outcome.root), cfg.trial_id).internalize(store.load_latest(cfg.trial_id))
        assert saved["generation"] == 3 and len(saved["synthetic"]) == 2
    again = run_sweep(sweep, s3_uri, emit=lambda line: None)
    assert again.resumed and not again.failed
    assert len(madray.load_results(outcome.root)) == len(df)
