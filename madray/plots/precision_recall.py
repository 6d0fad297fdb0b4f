"""Precision vs recall trajectories across generations (MAD Figs. 6/8 style): quality vs diversity."""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from madray.errors import DataError
from madray.plots.style import (
    describe,
    fmt,
    metric_label,
    new_figure,
    seaborn_style,
    varying,
)


def has_precision_recall(df: pd.DataFrame) -> bool:
    return all(c in df and df[c].notna().any() for c in ("precision", "recall"))


def trajectories(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per trial (labelled by the knobs that vary): replicate-mean precision and recall per generation."""
    rows = df[df["precision"].notna() & df["recall"].notna()]
    keys = varying(rows) or ["trial_id"]
    out = {}
    for trial_id, sub in rows.groupby("trial_id", sort=True):
        label = ", ".join(fmt(k, sub[k].iloc[0]) for k in keys)
        out[label] = sub.groupby("generation")[["precision", "recall"]].mean().reset_index()
    return out


@seaborn_style
def precision_recall(df: pd.DataFrame) -> Figure:
    """One trajectory per trial in the (recall, precision) plane; ○ marks generation 1, ■ the last."""
    if not has_precision_recall(df):
        raise DataError("precision/recall trajectories need the columns 'precision' and 'recall' with data")
    paths = trajectories(df)
    colors = sns.color_palette("colorblind", len(paths))
    fig, (ax,) = new_figure(1, size=(6.0, 5.0))
    for (label, path), color in zip(paths.items(), colors):
        ax.plot(path["recall"], path["precision"], color=color, marker=".", label=label)
        ax.plot(path["recall"].iloc[:1], path["precision"].iloc[:1], "o", color=color, mfc="none", ms=9)
        ax.plot(path["recall"].iloc[-1:], path["precision"].iloc[-1:], "s", color=color, ms=7)
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel=metric_label("recall"), ylabel=metric_label("precision"),
           title="○ generation 1 → ■ last generation (replicate means)")
    ax.legend(fontsize="x-small")
    rows = df[df["precision"].notna()]
    fig.suptitle(f"Precision vs recall across generations\n{describe(rows)}", fontsize="medium")
    return fig
