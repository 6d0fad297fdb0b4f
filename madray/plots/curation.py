"""Curated loops: quality and diversity over generations, one line per curation setting (docs/curation.md).

One row of panels per family: a quality metric and a diversity metric, the first pair in
`QUALITY_DIVERSITY` the family reports. Lines: every combination of the knobs that vary (the
curation knobs `curate_<key>` among them), mean over replicates with a ±1 s.d. band.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from madray.config import CURATE_PREFIX
from madray.plots.style import (
    GENERATION_LABEL,
    band,
    describe,
    fmt,
    line_styles,
    metric_label,
    new_figure,
    seaborn_style,
    title,
    varying,
)

# (quality, diversity) per kind of family, by the metrics it reports; None: no diversity metric.
QUALITY_DIVERSITY: tuple[tuple[str, str | None], ...] = (
    ("precision", "recall"),  # flow, image families
    ("high_quality_frac", "modes_covered"),  # gmm
    ("mean_error", "trace_cov"),  # gaussian
    ("test_error", None),  # linreg
)


def quality_diversity(rows: pd.DataFrame) -> list[str]:
    """The family's quality and diversity metrics that have data."""
    for pair in QUALITY_DIVERSITY:
        if pair[0] in rows and rows[pair[0]].notna().any():
            return [m for m in pair if m and m in rows and rows[m].notna().any()]
    return []


def _label(keys: list[str], values: tuple) -> str:
    return ", ".join(fmt(k, v).removeprefix(CURATE_PREFIX) for k, v in zip(keys, values)) or "all trials"


@seaborn_style
def curation_curves(df: pd.DataFrame) -> Figure:
    """Quality and diversity vs generation per curation setting, one row of panels per family."""
    cells = [(family, rows, m) for family, rows in df.groupby("family", sort=True) for m in quality_diversity(rows)]
    fig, axes = new_figure(len(cells), ncols=2)
    for ax, (family, rows, metric) in zip(axes, cells):
        keys = [k for k in varying(rows) if k != "family"]
        groups = list(rows.groupby(keys, sort=True)) if keys else [((), rows)]
        for style, (values, line) in zip(line_styles(len(groups)), groups):
            values = values if isinstance(values, tuple) else (values,)
            band(ax, line, metric, markersize=3, label=_label(keys, values), **style)
        ax.set(title=f"{family}: {metric}", xlabel=GENERATION_LABEL, ylabel=metric_label(metric))
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="x-small")
    # the curation knobs are in the legend
    title(fig, "curated loops: quality and diversity per curation setting (line: mean, band: ±1 s.d.)",
          describe(df, skip=tuple(c for c in df.columns if c.startswith(CURATE_PREFIX))))
    return fig
