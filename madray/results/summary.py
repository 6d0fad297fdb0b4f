"""Per-trial summary of a results table: final-generation replicate means and medians of each metric.

The median sits beside the mean because the two can tell different stories: with MAD's unbiased
Gaussian fit in the fully synthetic loop the mean of tr Σ̂_t stays at λ^t tr Σ while the median
falls to 0 (the paper's "almost surely" collapse is about the typical replicate).
"""

from __future__ import annotations

import pandas as pd

from madray.config import CONFIG_COLUMNS, KNOB_COLUMNS, ROW_COLUMNS

_SHOWN_CONFIG = ["trial_id", *KNOB_COLUMNS]


def metric_columns(df: pd.DataFrame) -> list[str]:
    known = {*CONFIG_COLUMNS, *ROW_COLUMNS}
    return [c for c in df.columns if c not in known and not c.startswith("param_")]


def summary_table(df: pd.DataFrame, medians: bool = True) -> pd.DataFrame:
    """One row per trial: the knobs that vary, generations done, and per metric its final mean over
    replicates (column `<metric>`) and, with `medians`, median (`<metric>_median`)."""
    metrics = [m for m in metric_columns(df) if df[m].notna().any()]
    last = df[df["generation"] == df.groupby("trial_id")["generation"].transform("max")]
    varying = [c for c in _SHOWN_CONFIG if c == "trial_id" or last[c].nunique(dropna=False) > 1]
    groups = last.groupby(varying, dropna=False, sort=True)
    table = groups[metrics].mean()
    if medians:
        table = pd.concat([table, groups[metrics].median().add_suffix("_median")], axis=1)
        table = table[[c for m in metrics for c in (m, f"{m}_median")]]
    table.insert(0, "generation", groups["generation"].max())
    return table.reset_index()


def format_summary(df: pd.DataFrame, medians: bool = True) -> str:
    """One table per model family (families report different metrics); without `medians`, the means
    only (what `madray run` prints at the end, to stay on one screen; `madray show` adds medians)."""
    parts = []
    what = "mean and median" if medians else "mean"
    with pd.option_context("display.max_rows", 200, "display.width", 160, "display.float_format", "{:.4g}".format):
        for family, rows in df.groupby("family", sort=True):
            parts.append(f"family {family}: final generation, {what} over replicates")
            parts.append(summary_table(rows, medians).to_string(index=False))
    return "\n".join(parts)


def format_failures(failures: pd.DataFrame) -> str:
    """Failed trials (from `load_failures`): id, generation, kind and error message."""
    with pd.option_context("display.max_rows", 200, "display.width", 200, "display.max_colwidth", 120):
        return failures.to_string(index=False)


def boundary_columns(table: pd.DataFrame) -> list[str]:
    """A boundary table's columns worth showing: the grid knobs that vary, then the search's answer."""
    answer = ["knob", "statistic", "threshold", "value", "low", "high", "status", "evaluations", "trial_generations"]
    knobs = [c for c in table.columns if c not in answer and c not in ("sweep", "replicate_generations", "at_lo", "at_hi")]
    return [c for c in knobs if c == "point" or table[c].nunique(dropna=False) > 1] + answer


def format_boundary(table: pd.DataFrame) -> str:
    """The boundary table of a search (`load_boundary`), one row per grid point."""
    with pd.option_context("display.max_rows", 200, "display.width", 200, "display.float_format", "{:.4g}".format):
        return "boundary search: value* where the statistic crosses the threshold, interval [low, high]\n" + \
            table[boundary_columns(table)].to_string(index=False)
