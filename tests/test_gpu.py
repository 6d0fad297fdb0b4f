"""GPU trials: the device a torch family picks, fractional GPUs, a fresh process per trial.

Ray schedules GPUs as resources whether or not CUDA is there (`num_gpus` of a CPU-only Ray), so the
scheduling tests run everywhere; the tests that need CUDA skip with a reason without it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from madray.config import Resources, TrialConfig
from madray.errors import ConfigError
from madray.spec import parse_sweep
from madray.sweep.pack import make_units
from madray.torch_utils import configure, cuda_index
from madray.trial import Trial

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device here (torch's CPU build or no GPU)")


@pytest.mark.parametrize("assigned, visible, index", [
    ([], None, 0),  # outside Ray: the current device
    (["3"], "3", 0),  # Ray narrowed CUDA_VISIBLE_DEVICES to the assigned GPU: torch calls it 0
    ([3], "1,3", 1),  # ids as ints; a worker that sees two GPUs
    (["2"], None, 2),  # RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: the machine's numbering
    (["GPU-a1"], "GPU-b2, GPU-a1", 1),  # UUIDs
])
def test_the_device_is_the_gpu_ray_assigned(assigned, visible, index):
    assert cuda_index(assigned, visible) == index


def test_a_gpu_ray_did_not_make_visible_is_an_error():
    with pytest.raises(RuntimeError, match="Ray assigned GPU 4"):
        cuda_index([4], "0,1")


def trial(**resources) -> TrialConfig:
    return TrialConfig(family="gaussian", loop="fully_synthetic", resources=Resources(**resources), trial_id="t")


@pytest.mark.skipif(CUDA, reason="checks the CPU fallback")
def test_without_cuda_a_gpu_trial_runs_on_the_cpu():
    assert configure(trial(gpu=0.5)) == torch.device("cpu")


@needs_cuda
def test_with_cuda_a_gpu_trial_runs_on_a_gpu():
    assert configure(trial(gpu=0.5)).type == "cuda" and configure(trial()).type == "cpu"


@pytest.mark.parametrize("gpu, ok", [(0.25, True), (1, True), (4, True), (1.5, False)])
def test_gpus_are_a_fraction_of_one_or_whole(gpu, ok):
    if ok:
        assert trial(gpu=gpu).resources.gpu == gpu
    else:
        with pytest.raises(ConfigError, match="resources.gpu = 1.5"):
            trial(gpu=gpu)


def test_fresh_process_is_a_resources_key_and_such_trials_are_never_packed():
    sweep = parse_sweep({"name": "f", "family": "gaussian", "loop": "fully_synthetic", "generations": 2,
                         "resources": {"cpu": 1, "gpu": 0.5, "fresh_process": True}, "grid": {"lam": [1.0, 0.9, 0.8]}})
    assert all(t.resources.fresh_process for t in sweep.trials)
    units = make_units(sweep.trials, lambda r: 2, lambda c: 0.01)  # cheap: would be packed
    assert sorted(len(u) for u in units) == [1, 1, 1]
    plain = [dataclasses.replace(t, resources=Resources(cpu=1, gpu=0.5)) for t in sweep.trials]
    assert len(make_units(plain, lambda r: 1, lambda c: 0.01)) < 3  # the same trials without it are


SCRIPT = """
import json, sys, tempfile
from madray.spec import parse_sweep
from madray.sweep import run_sweep
from madray.sweep.ray_session import start_or_join

start_or_join(num_cpus=2, num_gpus=1)  # one GPU as a Ray resource, CUDA or not
sys.path.insert(0, sys.argv[2])
from helpers import TrialActors
spec = {"name": "g", "family": "gaussian", "loop": "fully_synthetic", "generations": 30, "replicates": 2,
        "n_ini": 50, "n_s": 50, "resources": json.loads(sys.argv[1]), "grid": {"lam": [1.0, 0.9, 0.8, 0.7]}}
with TrialActors() as seen, tempfile.TemporaryDirectory() as out:
    outcome = run_sweep(parse_sweep(spec), out, emit=lambda line: None, pack=False)
print(json.dumps({"processes": len(seen.pids), "at_once": seen.most, "failed": len(outcome.failed)}))
"""


def actors(resources: dict) -> dict:
    tests = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(resources), tests], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_fresh_process_trials_each_get_a_process_and_half_gpus_share_one():
    fresh = actors({"cpu": 1, "gpu": 0.5, "fresh_process": True})
    assert fresh["processes"] == 4 and fresh["at_once"] >= 2 and fresh["failed"] == 0  # 2 at a time on the one GPU
    reused = actors({"cpu": 1, "gpu": 1})
    assert reused["at_once"] == 1 and reused["processes"] < 4 and reused["failed"] == 0  # a whole GPU each: one at a time


@needs_cuda
@pytest.mark.parametrize("family", ["flow", "ddpm", "wgan_gp", "vae", "lm"])
def test_every_torch_family_runs_a_generation_on_the_gpu(family, madray_cache):
    params = {"steps": 5, "n_eval": 64, "n_ref": 64, **({"cache_dir": madray_cache} if family != "flow" and
                                                            family != "lm" else {})}
    sweep = parse_sweep({"name": "gpu", "family": family, "loop": "fully_synthetic", "generations": 2,
                         "replicates": 1, "n_ini": 128, "n_s": 64, "resources": {"cpu": 1, "gpu": 1},
                         "params": {family: params}})
    torch.cuda.reset_peak_memory_stats()
    rows = Trial(sweep.trials[0]).step()
    assert torch.cuda.max_memory_allocated() > 0  # the networks and batches were on the GPU
    assert rows and all(math.isfinite(v) for r in rows for k, v in r.items() if isinstance(v, float))


@pytest.mark.parametrize("cpu, gpu, slots", [(2, 0.5, 16), (2, 1, 8), (4, 0.25, 8), (1, 0, 32)])
def test_plan_counts_the_trials_a_node_holds_by_cpus_and_gpus(cpu, gpu, slots):
    from argparse import Namespace

    from madray.cli.plan import workers

    args = Namespace(workers=None, nodes=2, cpus_per_node=16, gpus_per_node=4)
    assert workers(args, cpu, gpu) == slots  # 2 nodes × min(16 // cpu, 4 // gpu)


def test_plan_refuses_gpu_trials_without_gpus():
    from argparse import Namespace

    from madray.cli.plan import workers

    with pytest.raises(ConfigError, match="--gpus-per-node = 0"):
        workers(Namespace(workers=None, nodes=2, cpus_per_node=16, gpus_per_node=None), 1, 0.5)


@pytest.mark.slow
def test_plan_prices_gpu_hours_as_trial_time_times_gpus():
    from madray.sweep.plan import make_plan

    sweep = parse_sweep({"name": "p", "family": "gaussian", "loop": "fully_synthetic", "generations": 5,
                         "resources": {"cpu": 1, "gpu": 0.5}, "grid": {"lam": [1.0, 0.9]}})
    plan = make_plan(sweep, workers=2, pilot_s=20)
    trial_seconds = sum(d["seconds"] for d in plan.dominant)  # both trials (dominant lists up to 5)
    assert len(plan.dominant) == 2 and trial_seconds > 0
    assert plan.gpu_hours == pytest.approx(0.5 * trial_seconds / 3600, rel=1e-9)
