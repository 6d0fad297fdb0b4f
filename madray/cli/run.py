"""Run a sweep described by a YAML file.

The sweep is validated before Ray starts; results go to <out>/<sweep name>/ as a
hive-partitioned Parquet dataset with the resolved sweep.yaml beside it. Running
the same command again on the same --out resumes an interrupted run: every
unfinished trial continues from its last completed generation, finished ones are
not re-run. A different sweep on the same --out is refused (use --overwrite or
another --out). The exit status is 1 if any trial failed (diverged or raised).
"""

from __future__ import annotations

import argparse
import signal
import sys

from madray.spec import DEFAULT_MAX_TRIALS, load_sweep
from madray.sweepfile import DEFAULT_MAX_SWEEP_BYTES, MAX_BYTES_ENV
from madray.tracking import TRACKERS, check_local


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep YAML file, e.g. sweeps/quickstart.yaml")
    p.add_argument("--out", default="madray-results", help="output folder or URI (default: %(default)s)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to use ('auto' or host:port); default: $RAY_ADDRESS, else an embedded local Ray")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a sweep key (YAML value), e.g. --set generations=5 --set params.gaussian.d=10")
    p.add_argument("--max-trials", type=int, default=DEFAULT_MAX_TRIALS, metavar="N",
                   help="refuse a grid of more than N points, counted before it is expanded (default: %(default)s)")
    p.add_argument("--max-sweep-bytes", type=int, default=None, metavar="N",
                   help=f"refuse a sweep file larger than N bytes (default: ${MAX_BYTES_ENV}, else "
                        f"{DEFAULT_MAX_SWEEP_BYTES:,})")
    p.add_argument("--force", action="store_true",
                   help="run even if a trial's memory estimate exceeds this machine's memory")
    p.add_argument("--track", action="append", default=[], choices=list(TRACKERS),
                   help="log every trial's generations to this tracker (repeatable; settings in the sweep "
                        "file's tracking: section, defaults otherwise); needs pip install 'madray[<tracker>]'")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved grid, its grid points and distinct trials, run nothing")
    p.add_argument("--verbose", action="store_true",
                   help="one progress line per trial-generation (default: a live status line on a terminal, "
                        "else a line per finished trial and a status line every ~10 s)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--overwrite", action="store_true", help="delete existing results of this sweep first")
    again.add_argument("--resume", action="store_true",
                       help="continue the interrupted run in --out (an error if there is none); "
                            "re-running without --resume also resumes a run of the same sweep")


def print_dry_run(sweep, out: str, header: bool = True) -> None:
    import pandas as pd

    from madray.sweep.runner import sweep_root

    table = pd.DataFrame(sweep.grid_table())
    if sweep.n_grid_points > len(sweep.trials):
        table["grid_points"] = list(sweep.grid_points)
    gens = sum(t.generations for t in sweep.trials)
    if header:
        print(f"sweep {sweep.name!r}: {sweep.size_line()}")
        print(f"{gens} trial-generations, {sum(t.generations * t.replicates for t in sweep.trials)} result rows")
    root = sweep_root(out, sweep.name)
    print(f"results would go to {root}")
    note = folder_note(sweep, root)
    if note:
        print(note)
    if sweep.tracking:
        print(f"tracked with {', '.join(sweep.tracking.names)}: one run per trial")
    with pd.option_context("display.max_rows", 500, "display.width", 160):
        print(table.to_string(index=False))


def folder_note(sweep, root: str) -> str | None:
    """What a run would do with the sweep folder's contents: resume the same sweep, or refuse another."""
    import yaml

    from madray.results.folder import SweepFolder, first_difference
    from madray.spec import dump_sweep

    stored = SweepFolder(root).sweep_text()
    if stored is None:
        return None
    difference = first_difference(yaml.safe_load(stored), yaml.safe_load(dump_sweep(sweep)))
    if difference is None:
        return f"{root} holds a run of this sweep: running it resumes that run"
    return (f"warning: {root} holds a run of a different sweep ({difference}): `madray run` would refuse it. "
            f"Give this one its own folder (--set name=<new name> or another --out), or --overwrite to delete that run")


def print_failures(failed: dict[str, str]) -> None:
    print(f"\n{len(failed)} trial(s) failed (records in failures/):")
    for tid, msg in failed.items():
        print(f"  {tid}: {msg}")


def run_options(args: argparse.Namespace) -> dict:
    """The options `run_sweep` and `run_search` share."""
    return {"address": args.address, "overwrite": args.overwrite, "resume": args.resume}


def run(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.sweep, args.overrides, max_trials=args.max_trials, force=args.force, track=args.track,
                       max_bytes=args.max_sweep_bytes)
    check_local(sweep.tracking, args.out)
    if args.dry_run:
        print_dry_run(sweep, args.out)
        return 0
    from madray.results.store import load_results
    from madray.results.summary import format_summary
    from madray.sweep.runner import run_sweep

    print(f"sweep {sweep.name!r}: {sweep.size_line()}")
    try:
        outcome = run_sweep(sweep, args.out, **run_options(args), live=sys.stdout.isatty(), verbose=args.verbose)
    except KeyboardInterrupt:  # a second SIGINT / SIGTERM: stopped at once
        print("\nstopped at once: the generations in progress are lost, every completed one is kept; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    if outcome.stopped_by:
        print(f"\nstopped by {signal.Signals(outcome.stopped_by).name} at a generation boundary: "
              f"{outcome.trials - len(outcome.unfinished)} of {outcome.trials} trials done; the other "
              f"{len(outcome.unfinished)} resume from their last completed generation when you run the same "
              f"command again", file=sys.stderr)
        return 128 + outcome.stopped_by
    try:
        df = load_results(outcome.root)
    except FileNotFoundError:  # every trial failed in its first generation
        df = None
    if df is not None:
        print(f"\n{len(df)} rows from {outcome.trials} trials written to {outcome.root}")
        print(format_summary(df, medians=False))
        print(f"\nMedians too: madray show {outcome.root}\nLoad them in pandas with: madray.load_results({outcome.root!r})")
    if outcome.failed:
        print_failures(outcome.failed)
        return 1
    return 0
