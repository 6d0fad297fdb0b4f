"""Write one report page for a sweep: config and size, failures, final metrics, n_e, figures.

Markdown by default (the figures go to a figures/ folder beside it, as PNG files the page
embeds); with --html one self-contained HTML page with every figure and sample grid inline,
which opens in any browser without a network.
"""

from __future__ import annotations

import argparse

from madray.cli.plot import add_ne_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a sweep's results folder, e.g. madray-results/quickstart")
    p.add_argument("--html", action="store_true",
                   help="write one self-contained HTML page (default file: <path>/report/report.html)")
    p.add_argument("--out", default=None,
                   help="the file to write (default: <path>/report/report.md, or report.html with --html)")
    add_ne_arguments(p)


def run(args: argparse.Namespace) -> int:
    from madray.report import write_report

    report, figures = write_report(args.path, args.out, distance=args.distance, steady=args.steady, html=args.html)
    for path in figures:
        print(path)
    print(report)
    return 0
