"""What a sweep's report says, as data: sections of blocks that the Markdown and HTML writers render.

One builder (`sections`) decides what the page holds: the sweep's config and size, a reproduction's
verdict, failed trials, final-generation tables, n_e, a search's boundary table, the figures and the
saved sample grids; `madray.report.markdown` and `madray.report.html` only render it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from scipy.stats import t as student_t

from madray.analysis.ess import effective_sample_size
from madray.plots import figures
from madray.plots.images import sample_grid_files, trials_with_grids
from madray.plots.phase import fresh_gaussian
from madray.results.folder import SweepFolder
from madray.results.store import load_boundary, load_failures
from madray.results.summary import boundary_columns, metric_columns, summary_table

NE_COLUMNS = ["lam", "n_r", "n_s", "param_d", "steady_from", "steady_to", "drift_z", "n_e", "n_e_low", "n_e_high",
              "ratio", "ratio_low", "ratio_high", "admissible"]
REPRODUCE_PAGE = "reproduce.md"  # what `madray reproduce` writes beside the results (madray.reproduce.run.PAGE)
LEVEL = 0.95  # the final tables' interval of the mean
GRID_GENERATIONS = 8  # sample grids shown per trial, evenly spaced, first and last included
GRID_TRIALS = 12  # trials whose sample grids are shown


@dataclass(frozen=True)
class Text:
    text: str  # plain text; `backticks` mark code


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame


@dataclass(frozen=True)
class Plot:
    stem: str  # the figure's file stem (`madray plot` writes <stem>.png)
    figure: Figure


@dataclass(frozen=True)
class Picture:
    label: str
    path: str  # where the image lies (under the sweep folder)
    data: bytes  # PNG bytes


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Verdict:
    passed: bool
    text: str


Block = Text | Table | Plot | Picture | Code | Verdict


def render_block(block: Block, renderer: object) -> str:
    """The renderer's method named after the block's kind (`text`, `table`, `plot`, `picture`, `code`, `verdict`)."""
    return getattr(renderer, type(block).__name__.lower())(block)


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]
    level: int = 2


def _read(root: str, name: str) -> bytes | None:
    folder = SweepFolder(root)
    return folder.read(folder.path(name))


def sweep_section(root: str, df: pd.DataFrame) -> Section:
    """The sweep file as run (the spec in sweep.yaml) and its size."""
    text = SweepFolder(root).sweep_text()
    resolved = yaml.safe_load(text) if text else {}
    points = sum((resolved.get("grid_points") or {}).values()) or df["trial_id"].nunique()
    reps = df.groupby("trial_id")["replicate"].nunique()
    size = (f"{df['trial_id'].nunique()} trials ({points} grid points), {len(df)} result rows, families "
            f"{', '.join(sorted(df['family'].unique()))}, generations {df['generation'].min()}–{df['generation'].max()}, "
            f"{reps.min()}{'' if reps.min() == reps.max() else f'–{reps.max()}'} replicates per trial.")
    blocks: list[Block] = [Text(size)]
    if resolved.get("spec"):
        blocks += [Text("The sweep as run (`sweep.yaml`, with `--set` options applied):"),
                   Code(yaml.safe_dump(resolved["spec"], sort_keys=False))]
    return Section("Sweep", tuple(blocks))


def failed_trials(path: str, df: pd.DataFrame) -> pd.DataFrame:
    """Failure records (`load_failures`) plus trials whose results stop before their last generation."""
    recorded = load_failures(path)
    done = df.groupby("trial_id").agg(generation=("generation", "max"), generations=("generations", "first"))
    short = done[done["generation"] < done["generations"]].reset_index()
    short = short[~short["trial_id"].isin(recorded["trial_id"])]
    short = short.assign(kind="incomplete", error=[f"{g} of {n} generations in the results"
                                                   for g, n in zip(short["generation"], short["generations"])])
    return pd.concat([recorded, short[recorded.columns]], ignore_index=True)


def mean_interval(values: pd.Series, level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean of independent replicate values (NaN with fewer than 2)."""
    v = values.dropna().to_numpy(dtype=float)
    if len(v) < 2:
        return math.nan, math.nan
    half = student_t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def final_table(rows: pd.DataFrame) -> pd.DataFrame:
    """`summary_table` (final mean and median per trial) with each metric's interval of the mean beside its mean."""
    table = summary_table(rows)
    last = rows[rows["generation"] == rows.groupby("trial_id")["generation"].transform("max")]
    by_trial = dict(tuple(last.groupby("trial_id")))
    for metric in [m for m in metric_columns(rows) if rows[m].notna().any()]:
        bounds = [mean_interval(by_trial[tid][metric]) for tid in table["trial_id"]]
        cells = [f"[{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) else "" for lo, hi in bounds]
        table.insert(table.columns.get_loc(metric) + 1, f"{metric} {LEVEL:.0%} CI", cells)
    return table


def _finals(df: pd.DataFrame) -> list[Section]:
    head = Section("Final generation", (Text(
        f"Per trial: each metric's mean over replicates, the {LEVEL:.0%} interval of that mean (Student t over "
        "replicates) and the median over replicates."),))
    return [head, *(Section(family, (Table(final_table(rows)),), level=3) for family, rows in df.groupby("family", sort=True))]


def ne_table(df: pd.DataFrame, distance: str, steady: int | None) -> pd.DataFrame | None:
    rows = fresh_gaussian(df)
    return None if rows.empty else effective_sample_size(rows, distance=distance, steady=steady)


def _ne(table: pd.DataFrame, distance: str) -> Section:
    return Section("Effective sample size (MAD Eq. 3)", (
        Text(f"Distance: `{distance}`; n_e solves E[D(n_e i.i.d. real samples)] = steady-state mean of D; "
             "intervals are 95% (delta method over replicates and the reference's Monte Carlo error). "
             "Admissible: n_e / n_r ≥ 1. drift_z: the late half of the steady window minus the early half in "
             "standard errors; |drift_z| well above 3 means the loop has not reached its steady state yet."),
        Table(table[[c for c in NE_COLUMNS if c in table]])))


def _boundary(boundary: pd.DataFrame) -> Section:
    return Section("Boundary search (`madray search`)", (
        Text("Per grid point: value* where the statistic crosses the threshold, from a line fitted to the values "
             "the search evaluated near it; [low, high] runs from the last value whose interval is on one side of "
             "the threshold to the first on the other (docs/analysis.md). NaN with a status 'over the whole range': "
             "no crossing in the searched range."),
        Table(boundary[boundary_columns(boundary)])))


def pipe_table(lines: list[str]) -> pd.DataFrame:
    """A Markdown pipe table (header, rule, rows; `\\|` escapes a bar) as strings."""
    def cells(line: str) -> list[str]:
        parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
        return [p.strip().replace("\\|", "|") for p in parts]

    header, *body = [cells(line) for line in lines if not re.fullmatch(r"\|(-+\|)+", line.strip())]
    return pd.DataFrame([row for row in body if len(row) == len(header)], columns=header)


def reproduction(root: str) -> Section | None:
    """The claim, PASS/FAIL, findings and figure of the `reproduce.md` that `madray reproduce` wrote here."""
    page = _read(root, REPRODUCE_PAGE)
    if page is None:
        return None
    text = page.decode("utf-8", errors="replace")
    head = re.search(r"^# (PASS|FAIL): (.*)$", text, re.MULTILINE)
    claim = re.search(r"<b>Claim\.</b>\s*(.*?)<br><br><b>Scale\.</b>\s*(.*?)</td>", text, re.DOTALL)
    image = re.search(r'<img src="([^"/\\]+\.png)"', text)  # a file beside the page, never a path elsewhere
    table = [line for line in text.split("## Findings", 1)[-1].splitlines() if line.startswith("|")]
    blocks: list[Block] = [Verdict(head.group(1) == "PASS", f"{head.group(1)}: {head.group(2)}") if head
                           else Text(f"`{REPRODUCE_PAGE}` names no PASS or FAIL")]
    if claim:
        blocks += [Text(f"Claim. {claim.group(1).strip()}"), Text(f"Scale. {claim.group(2).strip()}")]
    if table:
        blocks.append(Table(pipe_table(table)))
    data = _read(root, image.group(1)) if image else None
    if data:
        blocks.append(Picture(f"the reproduction's figure ({image.group(1)})", image.group(1), data))
    return Section("Reproduction (`madray reproduce`)", tuple(blocks))


def spread(generations: list[int], count: int) -> list[int]:
    """Up to `count` of `generations`, evenly spaced, the first and the last included."""
    if len(generations) <= count:
        return generations
    return [generations[i] for i in sorted(set(np.linspace(0, len(generations) - 1, count).round().astype(int)))]


def sample_grids(root: str, df: pd.DataFrame) -> list[Section]:
    """The sample grids image families save per generation (artifacts/<trial>/gen-NNNNNN-samples.png)."""
    trials = trials_with_grids(df, root)
    if not trials:
        return []
    fs = SweepFolder(root).fs
    out = [Section("Sample grids per generation", (Text(
        f"Saved by the trials themselves (`artifacts/`); up to {GRID_GENERATIONS} generations per trial"
        f"{f', the first {GRID_TRIALS} of {len(trials)} trials' if len(trials) > GRID_TRIALS else ''}."),))]
    for trial_id in trials[:GRID_TRIALS]:
        files = sample_grid_files(root, trial_id)
        pictures = []
        for g in spread(list(files), GRID_GENERATIONS):
            with fs.open_input_stream(files[g]) as f:
                pictures.append(Picture(f"generation {g}", files[g], f.read()))
        out.append(Section(trial_id, tuple(pictures), level=3))
    return out


def sections(path: str, root: str, df: pd.DataFrame, distance: str = "frechet", steady: int | None = None) -> list[Section]:
    """Everything the report page shows, in order (n_e is computed once, for its table and the phase diagram)."""
    table = ne_table(df, distance, steady)
    failures = failed_trials(path, df)
    out = [sweep_section(root, df)]
    verdict = reproduction(root) if "://" not in root else None
    out += [verdict] if verdict else []
    out.append(Section("Failed trials", (Table(failures),) if len(failures) else (Text("None: every trial finished."),)))
    out += _finals(df)
    out += [_ne(table, distance)] if table is not None else []
    boundary = load_boundary(path)
    out += [_boundary(boundary)] if boundary is not None else []
    plots = figures(df, root, distance=distance, steady=steady, ne_table=table)
    out.append(Section("Figures", tuple(Plot(stem, fig) for stem, fig in plots.items()) or (Text("No figure applies."),)))
    return out + sample_grids(root, df)


def heading(df: pd.DataFrame, path: str) -> tuple[str, str]:
    """The page's title and its first line."""
    written = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    return f"madray report: sweep `{df['sweep'].iloc[0]}`", f"Results: `{path}`. Written {written} by `madray report`."
