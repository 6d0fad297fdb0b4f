"""The papers' figures from a results DataFrame (`madray.load_results`).

Each plot function takes the DataFrame (plus options) and returns a matplotlib Figure:

    metric_vs_generation(df, metric)   any metric vs generation, lines per loop / λ, bands over replicates
    phase_diagram(df)                  n_e / n_r over (n_r, n_s) per λ with the admissibility boundary
                                       (searched points with intervals when the folder holds a boundary search)
    gmm_samples(df)                    a GMM trial's samples per generation (recomputed from its config)
    linreg_vs_theory(df)               replace vs accumulate test error with the closed forms
    precision_recall(df)               precision vs recall trajectories (when those columns exist)
    sample_grids(df, root)             image families' saved sample grids
    curation_curves(df)                quality and diversity per curation setting (curated loops)

`figures(df, root)` picks every figure that applies to the data (one `MAKERS` entry per kind:
adding a figure is one function plus one line there); `save_figures` writes PNG (and PDF).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pandas as pd
from matplotlib.figure import Figure

from madray.plots.curation import curation_curves
from madray.plots.curves import metric_vs_generation
from madray.plots.gmm import gmm_samples
from madray.plots.images import sample_grids, trials_with_grids
from madray.plots.linreg import linreg_vs_theory
from madray.plots.phase import fresh_gaussian, phase_diagram
from madray.plots.precision_recall import has_precision_recall, precision_recall
from madray.plots.style import curated
from madray.results.store import load_boundary
from madray.results.summary import metric_columns

Options = dict  # distance, steady: passed to the n_e figures; ne_table: n_e already computed with them


def _curves(df: pd.DataFrame, root: str | None, options: Options) -> dict[str, Figure]:
    metrics = [m for m in metric_columns(df) if df[m].notna().any()]
    return {f"{m}-vs-generation": metric_vs_generation(df, m) for m in metrics}


def _phase(df, root, options):
    if fresh_gaussian(df).empty:
        return {}
    boundary = load_boundary(root) if root else None
    return {"phase-diagram": phase_diagram(df, distance=options.get("distance", "frechet"), steady=options.get("steady"),
                                           table=options.get("ne_table"), boundary=boundary)}


def _gmm(df, root, options):
    return {"gmm-samples": gmm_samples(df)} if (df["family"] == "gmm").any() else {}


def _linreg(df, root, options):
    return {"linreg-replace-vs-accumulate": linreg_vs_theory(df)} if (df["family"] == "linreg").any() else {}


def _precision_recall(df, root, options):
    return {"precision-recall": precision_recall(df)} if has_precision_recall(df) else {}


def _sample_grids(df, root, options):
    return {"sample-grids": sample_grids(df, root)} if root and trials_with_grids(df, root) else {}


def _curation(df, root, options):
    return {"curation": curation_curves(df)} if curated(df) else {}


MAKERS: list[Callable[[pd.DataFrame, str | None, Options], dict[str, Figure]]] = [
    _curves, _phase, _gmm, _linreg, _precision_recall, _sample_grids, _curation,
]


def figures(df: pd.DataFrame, root: str | None = None, **options) -> dict[str, Figure]:
    """Every figure that applies to `df`, by file stem; `root` (the sweep folder) enables artifact figures."""
    out: dict[str, Figure] = {}
    for make in MAKERS:
        out.update(make(df, root, options))
    return out


def save_figures(figs: dict[str, Figure], out_dir: str, pdf: bool = False, dpi: int = 110) -> list[str]:
    """Write `<stem>.png` (and `<stem>.pdf`) per figure into out_dir; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for stem, fig in figs.items():
        for ext in ("png", "pdf") if pdf else ("png",):
            path = os.path.join(out_dir, f"{stem}.{ext}")
            fig.savefig(path, dpi=dpi)
            paths.append(path)
    return paths


__all__ = [
    "MAKERS", "figures", "save_figures", "metric_vs_generation", "phase_diagram", "gmm_samples",
    "linreg_vs_theory", "precision_recall", "sample_grids", "curation_curves",
]
