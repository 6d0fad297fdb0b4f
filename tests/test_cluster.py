"""A sweep on a multi-node Ray cluster spreads trials over nodes with the rows of a single process;
cluster.yaml passes Ray's own autoscaler validation."""

import warnings
from pathlib import Path

import numpy as np
import psutil
import pytest
import ray
import yaml
from helpers import is_loopback, listening
from ray.cluster_utils import Cluster
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from threadpoolctl import threadpool_limits

import madray
from madray.spec import parse_sweep
from madray.sweep import run_sweep
from madray.sweep.ray_session import start_or_join
from madray.trial import run_trial

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"
LOOPBACK = "127.0.0.1"

# Trials long enough (fresh real samples are drawn, not checkpointed) that the first outlasts the start of the
# second node's trainable actor: a trial that finishes first hands its reused actor to the next pending trial.
SWEEP = {
    "name": "spread", "family": "gaussian", "loop": "fresh_data", "generations": 40, "replicates": 4,
    "n_ini": 200, "n_r": 5000, "n_s": 100, "seed": 5, "params": {"gaussian": {"d": 100}},
    "grid": {"lam": [1.0, 0.5]},
}


@pytest.fixture()
def two_worker_cluster():
    """A head without CPUs (it runs the driver) and two 1-CPU worker nodes, on this machine, every node
    on 127.0.0.1 as the embedded Ray is (Cluster's default is the machine's own address)."""
    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": LOOPBACK})
    workers = [cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK) for _ in range(2)]
    cluster.wait_for_nodes()
    # madray's session joins a Ray on 127.0.0.1 from 127.0.0.1 (a plain ray.init would replace it by the
    # machine's address and miss the loopback GCS)
    start_or_join(cluster.address)
    outside = [s for s in listening(psutil.Process()) if not is_loopback(s[1])]
    assert not outside, f"cluster nodes listening beyond loopback: {outside}"
    # Warm a worker process on each node (imports included), so that the second trainable actor starts
    # while the first trial still runs; otherwise one reused actor may take every trial.
    def import_trainable() -> str:  # local: pickled by value, workers cannot import this test module
        import madray.sweep.trainable  # noqa: F401

        return ray.get_runtime_context().get_node_id()

    warm = ray.remote(num_cpus=1)(import_trainable)
    on = [NodeAffinitySchedulingStrategy(w.node_id, soft=False) for w in workers]
    assert set(ray.get([warm.options(scheduling_strategy=s).remote() for s in on])) == {w.node_id for w in workers}
    yield {w.node_id for w in workers}
    ray.shutdown()
    cluster.shutdown()


def test_trials_spread_over_nodes_with_single_process_rows(two_worker_cluster, tmp_path):
    sweep = parse_sweep(SWEEP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = run_sweep(sweep, str(tmp_path / "out"), emit=lambda line: None)
    assert any("local path on a multi-node cluster" in str(w.message) for w in caught)
    assert not outcome.failed
    # two 1-CPU workers and nothing on the head
    assert set(outcome.nodes.values()) == two_worker_cluster
    df = madray.load_results(outcome.root)
    assert len(df) == 2 * 4 * 40
    for cfg in sweep.trials:
        with threadpool_limits(1):  # as in a 1-CPU Ray worker (OMP_NUM_THREADS=1): same BLAS summation order
            want = sorted(run_trial(cfg), key=lambda r: (r["replicate"], r["generation"]))
        got = df[df["trial_id"] == cfg.trial_id]
        for metric in ("mean_error", "trace_cov", "frechet"):
            np.testing.assert_array_equal(got[metric].to_numpy(), [r[metric] for r in want])


def test_cluster_yaml_passes_ray_autoscaler_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((Path(__file__).parents[1] / "cluster.yaml").read_text())
    validate_config(prepare_config(config))
    types = config["available_node_types"]
    assert config["head_node_type"] == "head" and types["gpu"]["min_workers"] == 0
    assert all("--dashboard-host=127.0.0.1" in c for c in config["head_start_ray_commands"] if "--head" in c)
    assert any("download.pytorch.org/whl/cpu" in c for c in config["setup_commands"])
    broken = {**config, "available_node_types": {**types, "cpu": {**types["cpu"], "min_wokers": 1}}}
    with pytest.raises(Exception, match="min_wokers"):
        validate_config(prepare_config(broken))


def test_shared_inputs_are_put_once_per_shared_key():
    from madray.sweep.experiment import put_shared_inputs
    from madray.sweep.ray_session import start_or_join

    start_or_join()
    sweep = parse_sweep({**SWEEP, "params": {"gaussian": {"d": 2}, "linreg": {"d": 3}},
                         "grid": {"family": ["gaussian", "linreg"], "lam": [1.0, 0.5]}})
    refs = put_shared_inputs(sweep.trials)
    by_family = {}
    for cfg in sweep.trials:
        by_family.setdefault(cfg.family, set()).add(refs[cfg.trial_id].hex())
    assert {f: len(r) for f, r in by_family.items()} == {"gaussian": 1, "linreg": 1}
    assert by_family["gaussian"] != by_family["linreg"]
