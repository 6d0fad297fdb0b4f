"""What every madray figure shares: Agg figures without pyplot, axis labels with units, titles with the config.

Figures are `matplotlib.figure.Figure` objects on an Agg canvas, never registered with pyplot:
no global state, no GUI backend, safe in Ray workers and threads, and shown inline by Jupyter.
"""

from __future__ import annotations

import functools
import textwrap
from typing import Callable, Iterator

import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from madray.config import KNOB_COLUMNS

# y-axis labels with units; the data units are those of the family's samples (N(0, I) for the Gaussian).
METRIC_LABELS = {
    "mean_error": "‖μ̂ − μ‖ (data units)",
    "trace_cov": "tr Σ̂ (data units²)",
    "frechet": "Fréchet distance to truth, W2² (data units²)",
    "modes_covered": "modes covered (count)",
    "high_quality_frac": "high-quality samples (fraction)",
    "wasserstein": "W2 to real samples (data units)",
    "test_error": "excess test error ‖ŵ − w*‖² (label units²)",
    "heldout_mse": "held-out MSE (label units²)",
    "fid": "FID (feature units²)",
    "precision": "precision (fraction)",
    "recall": "recall (fraction)",
    "density": "density (ratio)",
    "coverage": "coverage (fraction)",
    "accept_rate": "candidates kept (fraction)",
    "oracle_all": "oracle score, all candidates",
    "oracle_kept": "oracle score, kept samples",
    "cap_hit": "candidate budget hit (fraction)",
}
KNOB_NAMES = {"lam": "λ", "param_d": "d"}  # how config columns are written in titles
KNOBS = list(KNOB_COLUMNS)
GENERATION_LABEL = "generation t"
LINESTYLES = ["-", "--", ":", "-."]


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def knob_columns(df: pd.DataFrame) -> list[str]:
    """Config columns that can distinguish trials: the knobs plus the family parameters with data."""
    params = [c for c in df.columns if c.startswith("param_") and df[c].notna().any()]
    return [c for c in KNOBS if c in df] + params


def varying(df: pd.DataFrame, columns: list[str] | None = None) -> list[str]:
    return [c for c in (columns or knob_columns(df)) if df[c].nunique(dropna=True) > 1]


def fmt(column: str, value) -> str:
    name = KNOB_NAMES.get(column, column.removeprefix("param_"))
    return f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"


def describe(df: pd.DataFrame, skip: tuple[str, ...] = ()) -> str:
    """The config every row of `df` shares (the knobs that do not vary), for a figure title."""
    fixed = [c for c in knob_columns(df) if c not in skip and df[c].nunique(dropna=True) == 1]
    parts = [fmt(c, df[c].dropna().iloc[0]) for c in fixed]
    reps = df["replicate"].nunique() if "replicate" in df else None
    sweep = f"sweep {df['sweep'].iloc[0]}: " if "sweep" in df and df["sweep"].nunique() == 1 else ""
    text = sweep + ", ".join(parts) + (f"; R={reps} replicates" if reps else "")
    return "\n".join(textwrap.wrap(text, 110))


def panels(df: pd.DataFrame, keys: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
    """(title, rows) per combination of `keys`; one untitled panel without keys."""
    if not keys:
        yield "", df
        return
    for values, sub in df.groupby(keys, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        yield ", ".join(fmt(k, v) for k, v in zip(keys, values)), sub


def new_figure(n_panels: int, ncols: int = 3, size: tuple[float, float] = (4.6, 3.6)) -> tuple[Figure, list]:
    """An Agg-backed figure with `n_panels` axes in a grid (unused cells removed)."""
    ncols = max(1, min(ncols, n_panels))
    nrows = -(-n_panels // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.remove()
    return fig, axes[:n_panels]


def seaborn_style(func: Callable) -> Callable:
    """Draw inside seaborn's whitegrid style and a compact plotting context."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.8):
            return func(*args, **kwargs)

    return wrapper


def band(ax, rows: pd.DataFrame, metric: str, x: str = "generation", **line) -> pd.DataFrame:
    """Mean over replicates as a line, ±1 s.d. over replicates as a band; returns the aggregates drawn."""
    agg = rows.groupby(x)[metric].agg(["mean", "std"]).reset_index()
    ax.plot(agg[x], agg["mean"], marker="o", markersize=3, **line)
    ax.fill_between(agg[x], agg["mean"] - agg["std"].fillna(0), agg["mean"] + agg["std"].fillna(0),
                    color=line.get("color"), alpha=0.2, linewidth=0)
    return agg
