"""Draw the figures that apply to a sweep's results and print the paths written.

Metric-vs-generation curves for every metric, the n_e / n_r phase diagram for gaussian
fresh-data trials, GMM samples per generation, linear regression against its theory
lines, precision vs recall and sample grids when the data have them.
"""

from __future__ import annotations

import argparse
import os

from madray.errors import DataError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a sweep's results folder, e.g. madray-results/quickstart")
    p.add_argument("--out", default=None, help="folder for the figures (default: <path>/figures)")
    p.add_argument("--pdf", action="store_true", help="also write a PDF of every figure")
    add_ne_arguments(p)


def add_ne_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the effective sample size, shared with `madray report`."""
    from madray.analysis.ess import DISTANCES

    p.add_argument("--distance", default="frechet", choices=list(DISTANCES),
                   help="distance to the truth that defines n_e (default: %(default)s)")
    p.add_argument("--steady", type=int, default=None, metavar="G",
                   help="n_e's steady state: the last G generations (default: the second half)")


def run(args: argparse.Namespace) -> int:
    from madray.plots import figures, save_figures
    from madray.results.store import load_results, sweep_folder

    root = sweep_folder(args.path)
    if args.out is None and "://" in root:
        raise DataError(f"{args.path!r} is not a local folder: pass --out DIR for the figures")
    df = load_results(args.path)
    figs = figures(df, root, distance=args.distance, steady=args.steady)
    for path in save_figures(figs, args.out or os.path.join(root, "figures"), pdf=args.pdf):
        print(path)
    return 0
