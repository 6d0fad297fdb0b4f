"""Print a summary table of a sweep's results (final generation, mean and median over replicates), its
boundary table if it is a search, and its failed trials."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a sweep's results folder or URI, e.g. madray-results/quickstart")


def run(args: argparse.Namespace) -> int:
    from madray.results.store import incomplete_message, incomplete_trials, load_boundary, load_failures, load_results
    from madray.results.summary import format_boundary, format_failures, format_summary

    failures = load_failures(args.path)
    try:
        df = load_results(args.path, warn=False)
    except FileNotFoundError:
        if failures.empty:
            raise
        df = None
    if df is not None:
        print(f"{args.path}: {len(df)} rows, {df['trial_id'].nunique()} trials, "
              f"generations {df['generation'].min()}..{df['generation'].max()}")
        print(format_summary(df))
    boundary = load_boundary(args.path)
    if boundary is not None:
        print("\n" + format_boundary(boundary))
    if not failures.empty:
        print(f"\n{len(failures)} failed trial(s):")
        print(format_failures(failures))
    missing = incomplete_trials(args.path, df) if df is not None else []
    if missing:
        print(f"\n{incomplete_message(missing)}")
    return 0
