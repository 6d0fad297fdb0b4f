"""Run one reproduction: its sweep through `madray.sweep.run_sweep`, its figure, its check, its report page.

The results go where `madray run` would put them (`<out>/<sweep name>/`), so a reproduction is
resumable like any sweep and `madray show/plot/report` work on it; the page `reproduce.md` and
its figure go beside them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from madray.errors import ConfigError
from madray.plots import save_figures
from madray.report import markdown_table
from madray.reproduce.base import Experiment, Verdict
from madray.results.store import load_results
from madray.spec import Sweep, load_sweep
from madray.sweep import run_sweep

SCALES = ("laptop", "paper")
PAGE = "reproduce.md"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    page: str  # the Markdown report page
    figure: str  # its PNG
    failed: dict[str, str]  # trial_id -> error of trials that failed


def experiment_sweep(exp: Experiment, scale: str = "laptop", overrides: list[str] | None = None,
                     force: bool = False) -> Sweep:
    """The validated sweep of `exp` at `scale` (the paper's sizes rename it `<name>-paper`) plus user `--set`s.

    Unless `force`, a trial that would not fit in this machine's memory is refused (`load_sweep`)."""
    if scale not in SCALES:
        raise ConfigError(f"--scale = {scale!r} is not allowed; allowed: {', '.join(SCALES)}")
    paper = [*exp.paper_scale, f"name={exp.name}-paper"] if scale == "paper" else []
    return load_sweep(exp.sweep, [*paper, *(overrides or [])], force=force)


def write_page(exp: Experiment, verdict: Verdict, figure: str, root: str, scale: str) -> str:
    """The report page: the claim beside the figure, then the findings with their SEs and references."""
    rows = [{"quantity": f.quantity, "value": f.value, "SE": f.se, "reference": f.reference,
             "smallest detectable": f.detectable, "result": f.result} for f in verdict.findings]
    page = [
        f"# {verdict.status}: `{exp.name}` ({exp.paper})",
        f"<table><tr><td width=\"40%\"><b>Claim.</b> {exp.claim}<br><br><b>Scale.</b> {scale}. {exp.note}</td>"
        f"<td><img src=\"{os.path.basename(figure)}\" width=\"100%\"></td></tr></table>",
        "## Findings",
        markdown_table(pd.DataFrame(rows)),
        f"Results: `{root}` (`madray report {root}` for every metric and figure). Tolerances: a closed form "
        "must be matched within 4 standard errors over replicates; a direction must hold by more than 2; "
        "'smallest detectable' is the deviation each test catches with probability 0.8; a steady-state window "
        "with |drift_z| > 4 is NOT STEADY.",
    ]
    path = os.path.join(root, PAGE)
    with open(path, "w") as f:
        f.write("\n\n".join(page) + "\n")
    return path


def run_experiment(
    exp: Experiment,
    out: str,
    *,
    scale: str = "laptop",
    overrides: list[str] | None = None,
    overwrite: bool = False,
    force: bool = False,
    emit: Callable[[str], None] = print,
) -> Outcome:
    """Run (or resume) the sweep, draw the figure, check the claim, write the page (`out` must be local)."""
    if "://" in out:
        raise ConfigError(f"--out = {out!r} is not allowed: madray reproduce writes its page to a local folder")
    sweep = experiment_sweep(exp, scale, overrides, force=force)
    result = run_sweep(sweep, out, overwrite=overwrite, emit=emit)
    df = load_results(result.root)
    verdict = exp.check(df)
    (figure,) = save_figures({exp.name: exp.figure(df, result.root)}, result.root)
    return Outcome(verdict, write_page(exp, verdict, figure, result.root, scale), figure, result.failed)
