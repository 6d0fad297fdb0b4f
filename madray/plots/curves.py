"""A metric against generation, one line per loop and/or λ, bands over replicates (MAD Figs. 4/5 style)."""

from __future__ import annotations

import itertools

import pandas as pd
from matplotlib.figure import Figure

from madray.errors import DataError
from madray.plots.style import (
    BAND_TEXT,
    GENERATION_LABEL,
    LINESTYLES,
    MARKERS,
    MAX_COLOURS,
    band,
    describe,
    fmt,
    line_styles,
    log_scale_wanted,
    metric_label,
    new_figure,
    panels,
    seaborn_style,
    spread_unread,
    title,
    varying,
)


def metric_rows(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    if metric not in df or df[metric].isna().all():
        have = [c for c in df.columns if df[c].dtype.kind == "f" and df[c].notna().any()]
        raise DataError(f"metric = {metric!r} has no data in these results; columns with data: {', '.join(have)}")
    return df[df[metric].notna()]


def line_keys(rows: pd.DataFrame, hue: str | None, style: str | None) -> tuple[str | None, str | None, list[str]]:
    """hue and style (default: loop and λ where they vary) and the knobs left over, which become panels.

    A hue of more than MAX_COLOURS values or a style of more than len(LINESTYLES) becomes a panel
    key instead, so that no two legend entries of a panel look alike."""
    vary = varying(rows)
    defaults = [k for k in ("loop", "lam") if k in vary]
    hue = hue or (defaults[0] if defaults else None)
    style = style or next((k for k in defaults if k != hue), None)
    hue = hue if hue and rows[hue].nunique() <= MAX_COLOURS else None
    style = style if style and rows[style].nunique() <= len(LINESTYLES) else None
    return hue, style, [k for k in vary if k not in (hue, style)]


@seaborn_style
def metric_vs_generation(df: pd.DataFrame, metric: str, hue: str | None = None, style: str | None = None) -> Figure:
    """Replicate mean (line), median (dotted line of the same colour) and a band over replicates
    (±1 s.d.; 16–84 % quantiles on a log axis) of `metric` per generation.

    One line per value of `hue` (default: loop; a colour) and `style` (default: λ; a dash pattern and
    marker); every other knob that varies gets its own panel (a trial whose loop does not read that
    knob is drawn in each). The caption lists the fixed knobs that matter (`describe`).
    """
    rows = spread_unread(metric_rows(df, metric))
    hue, style, panel_keys = line_keys(rows, hue, style)
    hue_values = sorted(rows[hue].unique()) if hue else [None]
    style_values = sorted(rows[style].unique()) if style else [None]
    colors = dict(zip(hue_values, (s["color"] for s in line_styles(len(hue_values)))))
    dashes = dict(zip(style_values, zip(LINESTYLES, MARKERS)))
    groups = list(panels(rows, panel_keys))
    fig, axes = new_figure(len(groups))
    logs = []
    for ax, (heading, sub) in zip(axes, groups):
        logs.append(log_scale_wanted(sub[metric]))
        for h, s in itertools.product(hue_values, style_values):
            keep = pd.Series(True, index=sub.index)
            for key, value in ((hue, h), (style, s)):
                keep &= (sub[key] == value) if key else True
            line = sub[keep]
            if line.empty:
                continue
            label = ", ".join(fmt(k, v) for k, v in ((hue, h), (style, s)) if k) or metric
            band(ax, line, metric, median=True, log=logs[-1], color=colors[h], linestyle=dashes[s][0],
                 marker=dashes[s][1], markersize=3, label=label)
        ax.set(title=heading, xlabel=GENERATION_LABEL, ylabel=metric_label(metric))
        if logs[-1]:
            ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(fontsize="small")
    bands = BAND_TEXT[logs[0]] if len(set(logs)) == 1 else f"{BAND_TEXT[False]}, on log axes 16–84 % quantiles"
    title(fig, f"{metric} vs generation (line: mean, dotted: median, {bands})",
          describe(rows, skip=tuple(k for k in (hue, style) if k)))
    return fig

