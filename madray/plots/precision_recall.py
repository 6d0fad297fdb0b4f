"""Precision vs recall trajectories across generations (MAD Figs. 6/8 style): quality vs diversity."""

from __future__ import annotations

import itertools

import pandas as pd
from matplotlib.figure import Figure

from madray.errors import DataError
from madray.plots.style import (
    MAX_COLOURS,
    describe,
    fmt,
    line_styles,
    metric_label,
    new_figure,
    panels,
    seaborn_style,
    title,
    varying,
)


def has_precision_recall(df: pd.DataFrame) -> bool:
    return all(c in df and df[c].notna().any() for c in ("precision", "recall"))


def trajectories(df: pd.DataFrame, keys: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Per trial (labelled by `keys`, default the knobs that vary): replicate-mean precision and recall per generation."""
    rows = df[df["precision"].notna() & df["recall"].notna()]
    keys = keys if keys is not None else varying(rows)
    out = {}
    for trial_id, sub in rows.groupby("trial_id", sort=True):
        label = ", ".join(fmt(k, sub[k].iloc[0]) for k in keys) or str(trial_id)
        out[label] = sub.groupby("generation")[["precision", "recall"]].mean().reset_index()
    return out


def facet_keys(rows: pd.DataFrame) -> list[str]:
    """No facets up to MAX_COLOURS trajectories; else the fewest varying knobs, and of those the ones
    with the fewest panels, that leave at most MAX_COLOURS trials per panel."""
    vary = varying(rows)
    for n in range(len(vary) + 1):
        fits = [list(keys) for keys in itertools.combinations(vary, n)
                if (rows.groupby(list(keys))["trial_id"].nunique().max() if keys else rows["trial_id"].nunique())
                <= MAX_COLOURS]
        if fits:
            return min(fits, key=lambda keys: len(rows.groupby(keys)) if keys else 1)
    return vary


@seaborn_style
def precision_recall(df: pd.DataFrame) -> Figure:
    """One trajectory per trial in the (recall, precision) plane; ○ marks generation 1, ■ the last.

    Past MAX_COLOURS trajectories the figure facets by the knobs that vary first (`facet_keys`);
    within a panel each trajectory has its own (colour, dash pattern, marker)."""
    if not has_precision_recall(df):
        raise DataError("precision/recall trajectories need the columns 'precision' and 'recall' with data")
    rows = df[df["precision"].notna() & df["recall"].notna()]
    keys = facet_keys(rows)
    groups = list(panels(rows, keys))
    fig, axes = new_figure(len(groups), ncols=2, size=(6.0, 5.0))
    for ax, (heading, sub) in zip(axes, groups):
        paths = trajectories(sub, [k for k in varying(sub) if k not in keys])
        for (label, path), style in zip(paths.items(), line_styles(len(paths))):
            ax.plot(path["recall"], path["precision"], markersize=4, label=label, **style)
            ax.plot(path["recall"].iloc[:1], path["precision"].iloc[:1], "o", color=style["color"], mfc="none", ms=9)
            ax.plot(path["recall"].iloc[-1:], path["precision"].iloc[-1:], "s", color=style["color"], ms=7)
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel=metric_label("recall"), ylabel=metric_label("precision"),
               title=heading)
        ax.legend(fontsize="x-small")
    title(fig, "Precision vs recall across generations: ○ generation 1 → ■ last generation (replicate means)",
          describe(rows))
    return fig
