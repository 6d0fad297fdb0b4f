"""One Markdown page per sweep: what ran, what failed, final metrics, n_e, and every figure that applies."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pandas as pd

from madray.analysis.ess import effective_sample_size
from madray.errors import DataError
from madray.plots import figures, save_figures
from madray.plots.phase import fresh_gaussian
from madray.results.store import load_boundary, load_failures, load_results, sweep_folder
from madray.results.summary import boundary_columns, summary_table

NE_COLUMNS = ["lam", "n_r", "n_s", "param_d", "steady_from", "steady_to", "drift_z", "n_e", "n_e_low", "n_e_high",
              "ratio", "ratio_low", "ratio_high", "admissible"]


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; floats to 4 significant digits."""
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def failed_trials(path: str, df: pd.DataFrame) -> pd.DataFrame:
    """Failure records (`load_failures`) plus trials whose results stop before their last generation."""
    recorded = load_failures(path)
    done = df.groupby("trial_id").agg(generation=("generation", "max"), generations=("generations", "first"))
    short = done[done["generation"] < done["generations"]].reset_index()
    short = short[~short["trial_id"].isin(recorded["trial_id"])]
    short = short.assign(kind="incomplete", error=[f"{g} of {n} generations in the results"
                                                   for g, n in zip(short["generation"], short["generations"])])
    return pd.concat([recorded, short[recorded.columns]], ignore_index=True)


def _sections(path: str, df: pd.DataFrame, fig_paths: dict[str, str], distance: str, steady: int | None) -> list[str]:
    sweep = df["sweep"].iloc[0]
    out = [f"# madray report: sweep `{sweep}`",
           f"Results: `{path}` — {len(df)} rows, {df['trial_id'].nunique()} trials, families "
           f"{', '.join(sorted(df['family'].unique()))}, generations {df['generation'].min()}–{df['generation'].max()}. "
           f"Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `madray report`."]
    failures = failed_trials(path, df)
    out += ["## Failed trials", markdown_table(failures) if len(failures) else "None: every trial finished."]
    out.append("## Final generation (mean over replicates)")
    for family, rows in df.groupby("family", sort=True):
        out += [f"### {family}", markdown_table(summary_table(rows))]
    if not fresh_gaussian(df).empty:
        table = effective_sample_size(fresh_gaussian(df), distance=distance, steady=steady)
        out += ["## Effective sample size (MAD Eq. 3)",
                f"Distance: `{distance}`; n_e solves E[D(n_e i.i.d. real samples)] = steady-state mean of D; "
                "intervals are 95% (delta method over replicates and the reference's Monte Carlo error). "
                "Admissible: n_e / n_r ≥ 1. drift_z: the late half of the steady window minus the early half in "
                "standard errors; |drift_z| well above 3 means the loop has not reached its steady state yet.",
                markdown_table(table[[c for c in NE_COLUMNS if c in table]])]
    boundary = load_boundary(path)
    if boundary is not None:
        out += ["## Boundary search (`madray search`)",
                "Per grid point: value* where the statistic crosses the threshold, from a line fitted to the values "
                "the search evaluated near it; [low, high] runs from the last value whose interval is on one side of "
                "the threshold to the first on the other (docs/analysis.md). NaN with a status 'over the whole range': "
                "no crossing in the searched range.",
                markdown_table(boundary[boundary_columns(boundary)])]
    out.append("## Figures")
    out += [f"### {stem}\n![{stem}]({rel})" for stem, rel in fig_paths.items()]
    return out


def write_report(path: str, out: str | None = None, distance: str = "frechet", steady: int | None = None) -> tuple[str, list[str]]:
    """Write the Markdown report (figures as PNGs in `<report dir>/figures/`); returns (report path, figure paths)."""
    root = sweep_folder(path)
    if out is None:
        if "://" in root:
            raise DataError(f"{path!r} is not a local folder: pass --out FILE for the report")
        out = os.path.join(root, "report", "report.md")
    df = load_results(path)
    fig_dir = os.path.join(os.path.dirname(os.path.abspath(out)), "figures")
    written = save_figures(figures(df, root, distance=distance, steady=steady), fig_dir)
    rel = {os.path.splitext(os.path.basename(p))[0]: os.path.relpath(p, os.path.dirname(os.path.abspath(out)))
           for p in written}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n\n".join(_sections(path, df, rel, distance, steady)) + "\n")
    return out, written
