"""Write one Markdown page for a sweep: failed trials, final metrics, n_e, and every figure.

The figures go to a figures/ folder beside the report, as PNG files the page embeds.
"""

from __future__ import annotations

import argparse

from madray.cli.plot import add_ne_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a sweep's results folder, e.g. madray-results/quickstart")
    p.add_argument("--out", default=None, help="the Markdown file to write (default: <path>/report/report.md)")
    add_ne_arguments(p)


def run(args: argparse.Namespace) -> int:
    from madray.report import write_report

    report, figures = write_report(args.path, args.out, distance=args.distance, steady=args.steady)
    for path in figures:
        print(path)
    print(report)
    return 0
