"""How far `madray plan`'s wall-time prediction is from a real run, on the quickstart and the phase-transition sweep.

For each sweep, in one run: the plan (pilot included) for the workers this machine has, then the sweep
through `run_sweep` on a fresh embedded Ray started as `madray run` starts it, timed from its start to the end; prints predicted and measured
wall time and the error (goal: within 30 %). The load average is printed beside each: the machine is
shared, and the pilot meets a different load than the run.

    python benchmarks/bench_plan.py                                   # both sweeps (several minutes)
    python benchmarks/bench_plan.py --sweep sweeps/quickstart.yaml
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # what Ray gives a 1-CPU trial

import ray  # noqa: E402

from madray.models import family_module  # noqa: E402
from madray.spec import load_sweep  # noqa: E402
from madray.sweep import run_sweep  # noqa: E402
from madray.sweep.plan import make_plan  # noqa: E402
from madray.sweep.ray_session import start_or_join  # noqa: E402

HERE = os.path.dirname(__file__)
SWEEPS = [os.path.join(HERE, "..", "sweeps", name) for name in ("quickstart.yaml", "gaussian_phase_transition.yaml")]


def measured_run(sweep, cpus: int) -> float:
    start = time.perf_counter()
    start_or_join(preload={family_module(c.family) for c in sweep.trials}, num_cpus=cpus)
    with tempfile.TemporaryDirectory() as out:
        run_sweep(sweep, out, emit=lambda line: None)
    ray.shutdown()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="append", default=None)
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    args = parser.parse_args()
    for path in args.sweep or SWEEPS:
        sweep = load_sweep(path)
        plan = make_plan(sweep, workers=args.cpus)
        load_plan = os.getloadavg()[0]
        wall = measured_run(sweep, args.cpus)
        print(f"{sweep.name:28s} {sweep.size_line()}")
        print(f"  predicted {plan.wall_s:7.1f} s (pilot {plan.pilot_s:.1f} s, load average {load_plan:.1f})   "
              f"measured {wall:7.1f} s (load average {os.getloadavg()[0]:.1f})   "
              f"error {(plan.wall_s - wall) / wall:+.0%} (goal within ±30 %)", flush=True)


if __name__ == "__main__":
    main()
