"""Print a summary table of a sweep's results (final generation, mean over replicates)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a sweep's results folder or URI, e.g. madray-results/quickstart")


def run(args: argparse.Namespace) -> int:
    from madray.results.store import load_results
    from madray.results.summary import format_summary

    df = load_results(args.path)
    print(f"{args.path}: {len(df)} rows, {df['trial_id'].nunique()} trials, "
          f"generations {df['generation'].min()}..{df['generation'].max()}")
    print(format_summary(df))
    return 0
