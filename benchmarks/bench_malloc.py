"""The malloc settings of madray's trial processes (madray/malloc.py) against glibc's defaults (a script, not a test).

    python benchmarks/bench_malloc.py               # about 2 minutes on 2 cores
    python benchmarks/bench_malloc.py --generations 3

Runs MAD Fig. 10's largest cell (d = 100, n_r = n_s = 10⁴, 100 replicates, fresh data) for a few
generations in two child processes, one with glibc's defaults and one with madray's settings, one
BLAS thread each, and prints each generation's seconds and the ratio of the warm ones (generation
3 on: the arrays of generation 2 are the first of their size). The difference is the page faults
of memory touched afresh, so it depends on the machine: large on a virtual machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(__file__)
PAPER_SWEEP = os.path.join(HERE, "..", "sweeps", "gaussian_phase_transition_paper.yaml")

CHILD = """
import json, sys, time
from dataclasses import replace
from madray.spec import load_sweep
from madray.trial import Trial
sweep = load_sweep(sys.argv[1])
cell = max(sweep.trials, key=lambda c: (c.n_r + c.n_s, -c.lam))
trial = Trial(replace(cell, generations=int(sys.argv[2]) + 1))
seconds = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    trial.step()
    seconds.append(time.perf_counter() - start)
print(json.dumps(seconds))
"""


def run(generations: int, settings: dict[str, str]) -> list[float]:
    from madray.malloc import SETTINGS

    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(settings, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, PAPER_SWEEP, str(generations)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from madray.malloc import SETTINGS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=4, help="generations of the largest cell per child (>= 3)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    default, ours = run(args.generations, {}), run(args.generations, SETTINGS)
    for label, seconds in (("glibc defaults", default), ("madray's settings", ours)):
        print(f"{label:<18} generations " + ", ".join(f"{s:.2f}" for s in seconds) + " s")
    warm = slice(2, None)
    ratio = (sum(default[warm]) / len(default[warm])) / (sum(ours[warm]) / len(ours[warm]))
    print(f"warm generations (3 on): {ratio:.2f}x faster with madray's settings")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
