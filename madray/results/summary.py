"""Per-trial summary of a results table: final-generation replicate means of each metric."""

from __future__ import annotations

import pandas as pd

from madray.config import CONFIG_COLUMNS, KNOB_COLUMNS, ROW_COLUMNS

_SHOWN_CONFIG = ["trial_id", *KNOB_COLUMNS]


def metric_columns(df: pd.DataFrame) -> list[str]:
    known = {*CONFIG_COLUMNS, *ROW_COLUMNS}
    return [c for c in df.columns if c not in known and not c.startswith("param_")]


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per trial: the knobs that vary, generations done, final metric means over replicates."""
    metrics = [m for m in metric_columns(df) if df[m].notna().any()]
    last = df[df["generation"] == df.groupby("trial_id")["generation"].transform("max")]
    varying = [c for c in _SHOWN_CONFIG if c == "trial_id" or last[c].nunique(dropna=False) > 1]
    table = last.groupby(varying, dropna=False, sort=True)[metrics].mean()
    table.insert(0, "generation", last.groupby(varying, dropna=False, sort=True)["generation"].max())
    return table.reset_index()


def format_summary(df: pd.DataFrame) -> str:
    """One table per model family (families report different metrics)."""
    parts = []
    with pd.option_context("display.max_rows", 200, "display.width", 160, "display.float_format", "{:.4g}".format):
        for family, rows in df.groupby("family", sort=True):
            parts.append(f"family {family}: final generation, mean over replicates")
            parts.append(summary_table(rows).to_string(index=False))
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
