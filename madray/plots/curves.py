"""A metric against generation, one line per loop and/or λ, bands over replicates (MAD Figs. 4/5 style)."""

from __future__ import annotations

import itertools

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from madray.errors import DataError
from madray.plots.style import (
    GENERATION_LABEL,
    LINESTYLES,
    band,
    describe,
    fmt,
    metric_label,
    new_figure,
    panels,
    seaborn_style,
    spread_unread,
    varying,
)


def metric_rows(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    if metric not in df or df[metric].isna().all():
        have = [c for c in df.columns if df[c].dtype.kind == "f" and df[c].notna().any()]
        raise DataError(f"metric = {metric!r} has no data in these results; columns with data: {', '.join(have)}")
    return df[df[metric].notna()]


def line_keys(rows: pd.DataFrame, hue: str | None, style: str | None) -> tuple[str | None, str | None, list[str]]:
    """hue and style (default: loop and λ where they vary) and the knobs left over, which become panels."""
    vary = varying(rows)
    defaults = [k for k in ("loop", "lam") if k in vary]
    hue = hue or (defaults[0] if defaults else None)
    style = style or next((k for k in defaults if k != hue), None)
    return hue, style, [k for k in vary if k not in (hue, style)]


def _log_scale_wanted(values: pd.Series) -> bool:
    positive = values[values > 0]
    return len(positive) == len(values) and positive.max() > 100 * positive.min()


@seaborn_style
def metric_vs_generation(df: pd.DataFrame, metric: str, hue: str | None = None, style: str | None = None) -> Figure:
    """Replicate mean (line), median (dotted line of the same colour) and ±1 s.d. (band) of `metric`
    per generation.

    One line per value of `hue` (default: loop) and `style` (default: λ); every other knob that
    varies gets its own panel (a trial whose loop does not read that knob is drawn in each). The title lists the knobs that are fixed.
    """
    rows = spread_unread(metric_rows(df, metric))
    hue, style, panel_keys = line_keys(rows, hue, style)
    hue_values = sorted(rows[hue].unique()) if hue else [None]
    style_values = sorted(rows[style].unique()) if style else [None]
    colors = dict(zip(hue_values, sns.color_palette("colorblind", len(hue_values))))
    dashes = dict(zip(style_values, itertools.cycle(LINESTYLES)))
    groups = list(panels(rows, panel_keys))
    fig, axes = new_figure(len(groups))
    for ax, (title, sub) in zip(axes, groups):
        for h, s in itertools.product(hue_values, style_values):
            keep = pd.Series(True, index=sub.index)
            for key, value in ((hue, h), (style, s)):
                keep &= (sub[key] == value) if key else True
            line = sub[keep]
            if line.empty:
                continue
            label = ", ".join(fmt(k, v) for k, v in ((hue, h), (style, s)) if k) or metric
            band(ax, line, metric, median=True, color=colors[h], linestyle=dashes[s], label=label)
        ax.set(title=title, xlabel=GENERATION_LABEL, ylabel=metric_label(metric))
        if _log_scale_wanted(sub[metric]):
            ax.set_yscale("log")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(fontsize="small")
    fig.suptitle(f"{metric} vs generation (line: mean, dotted: median, band: ±1 s.d. over replicates)\n"
                 f"{describe(rows, skip=tuple(k for k in (hue, style) if k))}", fontsize="medium")
    return fig

