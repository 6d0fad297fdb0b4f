"""Reproduce a paper's experiment: run its sweep, draw its figure, check its claim (exit 0 only on PASS).

`madray reproduce --list` shows the catalogue: name, paper and figure/section, the claim, the
measured laptop cost and whether the deep (torch) families are needed. `madray reproduce NAME`
runs the entry's sweep from sweeps/reproduce/ (resumable like `madray run`: the same command on
the same --out continues an interrupted run), then prints PASS, FAIL, NOT STEADY or INCONCLUSIVE
with every tested number, its standard error, the reference and the smallest effect the run could
detect, and writes <out>/<sweep name>/reproduce.md with the figure beside the claim. Exit status:
0 PASS, 1 FAIL or a failed trial, 2 a usage or config error, 3 NOT STEADY or INCONCLUSIVE (run more
generations or replicates).
"""

from __future__ import annotations

import argparse

from madray.errors import ConfigError
from madray.reproduce import EXPERIMENTS, run_experiment
from madray.reproduce.base import FAIL
from madray.reproduce.run import SCALES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help=f"the reproduction to run; one of: {', '.join(EXPERIMENTS)}")
    p.add_argument("--list", action="store_true", help="print the catalogue and exit")
    p.add_argument("--out", default="madray-results", help="output folder (default: %(default)s)")
    p.add_argument("--scale", default="laptop", choices=SCALES,
                   help="laptop (default: minutes on 2 cores) or paper (the paper's sizes, into <name>-paper/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a sweep key (YAML value), as in madray run")
    p.add_argument("--overwrite", action="store_true", help="delete earlier results of this reproduction first")
    p.add_argument("--force", action="store_true",
                   help="run even if a trial's memory estimate exceeds this machine's memory (the paper's sizes)")


def catalogue() -> str:
    """The --list text: one block per entry."""
    lines = []
    for e in EXPERIMENTS.values():
        lines += [f"{e.name}  [{e.paper}]  laptop: {e.cost}{'  (deep: torch families)' if e.deep else ''}",
                  f"    {e.claim}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(catalogue())
        return 0
    if args.name not in EXPERIMENTS:
        raise ConfigError(f"reproduction {args.name!r} is not known; known: {', '.join(EXPERIMENTS)} (madray reproduce --list)")
    outcome = run_experiment(EXPERIMENTS[args.name], args.out, scale=args.scale, overrides=args.overrides,
                             overwrite=args.overwrite, force=args.force)
    print(outcome.verdict.text())
    print(f"report page: {outcome.page}")
    if outcome.failed:
        print(f"{len(outcome.failed)} trial(s) failed: " + "; ".join(f"{k}: {v}" for k, v in outcome.failed.items()))
    if outcome.failed or outcome.verdict.status == FAIL:
        return 1
    return 0 if outcome.verdict.passed else 3
