"""What Ray Tune costs and what a second CPU buys, on the quickstart sweep.

Prints, in one run:
  - the sweep's trials through `run_trial` in a plain loop (one process, no Ray);
  - the same sweep through `run_sweep` (Ray Tune, trial checkpoints, Parquet files) with 1 worker CPU,
    and the overhead ratio Tune / plain loop (goal <= 1.1);
  - the same with 2 worker CPUs, and the throughput ratio 1 CPU / 2 CPUs (goal >= 1.6 on the
    quickstart, >= 1.8 with --set generations=40);
  - the plain loop over 2 forked processes (no Ray): what two CPUs of this machine give at all, the
    ceiling of the ratio above (on a VM two vCPUs need not give 2x).
Ray's start-up (`start_or_join`, what `madray run` does: its workers preload the trainable and the
sweep's families) is timed separately and not counted in the sweep times; the last line also gives the
ratios with it counted. `--no-pack` runs every trial as a Tune trial of its own (madray/sweep/pack.py).
The load average is printed beside each ratio: on a shared machine other people's work skews them.

    python benchmarks/bench_sweep.py                       # the quickstart as it is (about 3 minutes)
    python benchmarks/bench_sweep.py --set generations=40  # 7 s trials (about 10 minutes)

Measured 2026-12-02 on a quiet 2-core machine (load average 1.1 to 1.3, its own work):
  quickstart, --repeat 2: plain loop 23.2 s, Tune 1 CPU 25.3 s, 2 CPUs 14.1 s: overhead 1.09 (goal <= 1.1),
  throughput 1.79x (goal >= 1.6; the machine's ceiling 2.01x, Tune reaches 89% of it); Ray's start 3.7-4.0 s,
  counted in: 1.26 and 1.64x.
  --set generations=40: plain loop 198.4 s, Tune 1 CPU 188.3 s, 2 CPUs 88.5 s: overhead 0.95, throughput
  2.13x (goal >= 1.8; ceiling 2.18x, 98%); counted in: 0.98 and 2.05x (load average 1.0 to 1.9).
Before the trial actors reused the embedded Ray's prestarted, preloaded workers (ray_session.tune_actor_environment)
the quickstart gave 1.32 and 1.6x: each actor started a fresh worker and imported Ray Tune again.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time

# Single-threaded BLAS in the plain loop too: Ray runs a 1-CPU trial with OMP_NUM_THREADS=1.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import ray  # noqa: E402

from madray.models import family_module  # noqa: E402
from madray.spec import load_sweep  # noqa: E402
from madray.sweep import run_sweep  # noqa: E402
from madray.sweep.cost import prior_seconds  # noqa: E402
from madray.sweep.ray_session import start_or_join  # noqa: E402
from madray.trial import run_trial  # noqa: E402


def plain_loop(sweep) -> float:
    start = time.perf_counter()
    for cfg in sweep.trials:
        run_trial(cfg)
    return time.perf_counter() - start


def plain_pool(sweep, processes: int) -> float:
    """The trials over `processes` forked processes, one at a time each, longest first: what the
    machine gives `processes` CPUs with no Ray at all (the ceiling for Tune's throughput ratio)."""
    ctx = multiprocessing.get_context("fork")
    order = sorted(sweep.trials, key=lambda c: -(prior_seconds(c) or 0.0))
    start = time.perf_counter()
    with ctx.Pool(processes) as pool:
        pool.map(run_trial, order, chunksize=1)
    return time.perf_counter() - start


def through_tune(sweep, cpus: int, pack: bool) -> tuple[float, float]:
    """(Ray start-up seconds, run_sweep seconds) on a fresh local Ray with `cpus` CPUs."""
    ray.shutdown()
    start = time.perf_counter()
    start_or_join(preload={family_module(c.family) for c in sweep.trials}, num_cpus=cpus)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        run_sweep(sweep, out, emit=lambda line: None, pack=pack)
    done = time.perf_counter()
    ray.shutdown()
    return started - start, done - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default=os.path.join(os.path.dirname(__file__), "..", "sweeps", "quickstart.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the three measurements interleaved this often and keep each one's fastest "
                             "(a shared machine: other people's load only ever slows a run down)")
    parser.add_argument("--no-pack", dest="pack", action="store_false", help="one Tune trial per trial")
    args = parser.parse_args()
    sweep = load_sweep(args.sweep, args.overrides)
    print(f"sweep {sweep.name!r}: {sweep.size_line()}, {sum(t.generations for t in sweep.trials)} trial-generations; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    plain = pool2 = tune1 = tune2 = init1 = init2 = float("inf")
    for _ in range(args.repeat):
        p = plain_loop(sweep)
        plain = min(plain, p)
        print(f"plain loop of run_trial        {p:8.1f} s   load average {os.getloadavg()[0]:.1f}", flush=True)
        p2 = plain_pool(sweep, 2)
        pool2 = min(pool2, p2)
        print(f"plain loop in 2 processes      {p2:8.1f} s   load average {os.getloadavg()[0]:.1f}", flush=True)
        i1, t1 = through_tune(sweep, 1, args.pack)
        tune1, init1 = min(tune1, t1), min(init1, i1)
        print(f"Ray Tune, 1 worker CPU         {t1:8.1f} s   (+ Ray start {i1:.1f} s)   load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        i2, t2 = through_tune(sweep, 2, args.pack)
        tune2, init2 = min(tune2, t2), min(init2, i2)
        print(f"Ray Tune, 2 worker CPUs        {t2:8.1f} s   (+ Ray start {i2:.1f} s)   load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    goal = 1.8 if min(t.generations for t in sweep.trials) >= 40 else 1.6
    print(f"fastest of {args.repeat}: overhead ratio Tune 1 CPU / plain loop {tune1 / plain:.2f} (goal <= 1.1); "
          f"throughput 2 CPUs / 1 CPU {tune1 / tune2:.2f}x (goal >= {goal}); load average at the end "
          f"{os.getloadavg()[0]:.1f}")
    print(f"the machine's own ceiling, without Ray: 2 processes / 1 process {plain / pool2:.2f}x; Tune reaches "
          f"{(tune1 / tune2) / (plain / pool2):.0%} of it")
    print(f"with Ray's start-up counted: overhead {(init1 + tune1) / plain:.2f}, throughput "
          f"{(init1 + tune1) / (init2 + tune2):.2f}x; packing {'on' if args.pack else 'off'}")


if __name__ == "__main__":
    main()
