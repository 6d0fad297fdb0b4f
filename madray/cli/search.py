"""Find where a statistic crosses a threshold along one knob (a sweep file with a search: section).

Every grid point of the sweep gets one boundary: the search (a Ray Tune Searcher) narrows the
knob's range by ITP steps (regula falsi, safeguarded by bisection) until the bracket is narrower
than the tolerance, then adds replicates at its ends where the statistic's interval straddles the
threshold and more replicates could resolve it, and a guard value on each side for the interval. Each evaluation is an ordinary trial in the
results; the boundary table goes to <out>/<name>/boundary.parquet and is printed at the end.
Running the same command again reads the trials already there and continues an interrupted search.
The exit status is 1 if any trial failed (its grid point's search stops with status "failed").
"""

from __future__ import annotations

import argparse

from madray.cli.run import add_arguments as add_run_arguments
from madray.cli.run import print_failures, run_options
from madray.search.spec import load_search
from madray.tracking import check_local


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p)


def print_plan(plan, out: str) -> None:
    from madray.cli.run import print_dry_run

    s = plan.search
    print(f"sweep {plan.sweep.name!r}: {len(plan.sweep.trials)} grid points; search {s.knob} in [{s.range[0]:g}, {s.range[1]:g}] ({s.scale} scale) for {s.statistic} = {s.threshold:g} "
          f"(admissible {s.admissible}), tolerance {s.tolerance:g}, at most {s.max_evaluations} trials and "
          f"{plan.max_batches} batches of {plan.batch_replicates} replicates per value per grid point")
    print_dry_run(plan.sweep, out, header=False)


def run(args: argparse.Namespace) -> int:
    plan = load_search(args.sweep, args.overrides, track=args.track, max_bytes=args.max_sweep_bytes)
    check_local(plan.sweep.tracking, args.out)
    if args.dry_run:
        print_plan(plan, args.out)
        return 0
    from madray.results.store import load_failures
    from madray.results.summary import format_boundary
    from madray.search.runner import run_search

    outcome = run_search(plan, args.out, **run_options(args), verbose=args.verbose)
    print(f"\n{len(outcome.ran)} trials run, {len(outcome.reused)} read from earlier runs; results in {outcome.root}")
    print(format_boundary(outcome.boundary))
    print(f"\nLoad the table with: madray.load_boundary({outcome.root!r})")
    failures = load_failures(outcome.root)
    if not failures.empty:  # their grid points' searches stopped with status "failed"
        print_failures({r.trial_id: f"{r.kind} at generation {r.generation}: {r.error}" for r in failures.itertuples()})
        return 1
    return 0
