"""Replicates batched inside one trial vs one trial per replicate (the speed claim of the analytic families).

Prints, per family, the wall time of `run_trial` with R replicates as one
vectorised batch and of R single-replicate trials run one after another, and
their ratio. Run: python benchmarks/bench_replicates.py [--replicates 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from madray.spec import parse_sweep
from madray.trial import run_trial

CASES = {
    "gaussian": {"family": "gaussian", "loop": "fresh_data", "n_ini": 200, "n_r": 100, "n_s": 200,
                 "params": {"gaussian": {"d": 10}}},
    "gmm": {"family": "gmm", "loop": "fully_synthetic", "n_ini": 500, "n_s": 500,
            "params": {"gmm": {"em_iters": 30, "n_eval": 200}}},
    "linreg": {"family": "linreg", "loop": "accumulate", "n_ini": 100, "n_s": 100,
               "params": {"linreg": {"d": 10}}},
}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument("--generations", type=int, default=5)
    args = ap.parse_args()
    print(f"{'family':<10} {'batched (s)':>12} {'one trial per replicate (s)':>28} {'speed-up':>9}")
    for name, spec in CASES.items():
        cfg = parse_sweep({"name": "bench", "generations": args.generations, "replicates": args.replicates,
                           **spec}).trials[0]
        single = [dataclasses.replace(cfg, replicates=1, seed=s) for s in range(args.replicates)]
        batched = timed(lambda: run_trial(cfg))
        looped = timed(lambda: [run_trial(c) for c in single])
        print(f"{name:<10} {batched:>12.3f} {looped:>28.3f} {looped / batched:>8.1f}x")


if __name__ == "__main__":
    main()
