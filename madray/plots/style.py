"""What every madray figure shares: Agg figures without pyplot, axis labels with units, titles with the config.

Figures are `matplotlib.figure.Figure` objects on an Agg canvas, never registered with pyplot:
no global state, no GUI backend, safe in Ray workers and threads, and shown inline by Jupyter.
"""

from __future__ import annotations

import dataclasses
import functools
import textwrap
from collections.abc import Callable, Iterator

import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from madray.config import CURATE_PREFIX, KNOB_COLUMNS, OPTIONAL_KNOBS
from madray.loops import loop_class
from madray.models import family_class

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
TITLE_PT = 9.0  # suptitle font size
CHAR_EM = 0.62  # a DejaVu Sans character's mean width in ems, a little generous: wrapped lines fit
# Line styles of a second grouping (λ, n_r, ...): each a dash pattern and a marker, so that entries
# differ in more than colour; ":" is the median's, so it is not among them.
LINESTYLES = ["-", "--", "-.", (0, (5, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D"]
MAX_COLOURS = 8  # more lines than this in one panel: styles repeat colours, or the figure facets


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


def _is_default(column: str, value, families) -> bool:
    """Whether `value` of a `param_<name>` column is the default of every family given."""
    name = column.removeprefix("param_")
    defaults = [{f.name: f.default for f in dataclasses.fields(family_class(f).Params)}.get(name) for f in families]
    return all(d is not None and d == value for d in defaults)


def matters(df: pd.DataFrame, column: str) -> bool:
    """A fixed knob worth a title: read by every loop/family of `df`, not an unused curation knob
    or the seed, and for a family parameter, set away from its default."""
    if column == "seed" or (column.startswith(CURATE_PREFIX) and not curated(df)):
        return False
    value = df[column].dropna().iloc[0]
    if column.startswith("param_"):
        return not _is_default(column, value, df.loc[df[column].notna(), "family"].unique())
    if column in OPTIONAL_KNOBS and {"loop", "family"} <= set(df):
        return all(_reads(lp, f, column) for lp, f in df[["loop", "family"]].drop_duplicates().itertuples(index=False))
    return True


def curated(df: pd.DataFrame) -> bool:
    kind = f"{CURATE_PREFIX}kind"
    return kind in df and bool((df[kind] != "none").any())


def describe(df: pd.DataFrame, skip: tuple[str, ...] = ()) -> str:
    """The config every row of `df` shares and that matters (`matters`), for a figure's caption line;
    the full config of each trial is in sweep.yaml and on the report page."""
    fixed = [c for c in knob_columns(df) if c not in skip and df[c].nunique(dropna=True) == 1 and matters(df, c)]
    parts = [fmt(c, df[c].dropna().iloc[0]) for c in fixed]
    reps = df["replicate"].nunique() if "replicate" in df else None
    sweep = f"sweep {df['sweep'].iloc[0]}: " if "sweep" in df and df["sweep"].nunique() == 1 else ""
    return sweep + ", ".join(parts) + (f"; R={reps} replicates" if reps else "")


def title(fig: Figure, heading: str, caption: str = "") -> None:
    """The figure's title and a smaller caption line, each wrapped to the figure's width so that no
    text leaves the canvas (a suptitle wider than the figure is cut off on both sides)."""
    chars = max(20, int(fig.get_figwidth() * 72 / (CHAR_EM * TITLE_PT)))
    lines = [*textwrap.wrap(heading, chars), *textwrap.wrap(caption, chars)]
    fig.suptitle("\n".join(lines), fontsize=TITLE_PT)


def _reads(loop: str, family: str, knob: str) -> bool:
    return knob in loop_class(loop).uses or knob in family_class(family).uses


def spread_unread(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of trials that do not read a knob, copied to each value of it that the other trials have.

    Their rows carry the knob's default (madray.spec.normalise); copied, a fully synthetic loop is
    drawn in every n_r panel beside the fresh-data loop it is compared with, as before the merge.
    """
    if "loop" not in df or "family" not in df:
        return df
    for knob in (k for k in OPTIONAL_KNOBS if k in df):
        pairs = df[["loop", "family"]].drop_duplicates()
        readers = {(lp, f) for lp, f in pairs.itertuples(index=False) if _reads(lp, f, knob)}
        reads = pd.Series(pd.MultiIndex.from_arrays([df["loop"], df["family"]]).isin(list(readers)), index=df.index)
        values = sorted(df.loc[reads, knob].unique())
        if reads.all() or not values:
            continue
        copies = [df[~reads].assign(**{knob: v}) for v in values]
        df = pd.concat([df[reads], *copies], ignore_index=True)
    return df


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


def line_styles(n: int) -> list[dict]:
    """n distinct (colour, dash pattern, marker) styles: up to MAX_COLOURS colours, then the same
    colours again with the next dash pattern and marker (distinct for up to 32 lines)."""
    colours = sns.color_palette("colorblind", MAX_COLOURS)
    return [{"color": colours[i % MAX_COLOURS], "linestyle": LINESTYLES[i // MAX_COLOURS % len(LINESTYLES)],
             "marker": MARKERS[i // MAX_COLOURS % len(MARKERS)]} for i in range(n)]


def log_scale_wanted(values: pd.Series) -> bool:
    """Positive values over more than two decades."""
    positive = values[values > 0]
    return len(positive) == len(values) and len(values) > 0 and positive.max() > 100 * positive.min()


BAND_TEXT = {False: "band: ±1 s.d. over replicates", True: "band: 16–84 % quantiles over replicates"}


def band(ax, rows: pd.DataFrame, metric: str, x: str = "generation", median: bool = False, log: bool = False,
         **line) -> pd.DataFrame:
    """Mean over replicates as a line, a band over replicates, and with `median=True` the median as
    a thin dotted line of the same colour; returns the aggregates drawn.

    The band is ±1 s.d. on a linear axis; on a log axis (`log`) the 16–84 % quantiles (±1 s.d. for a
    normal), since mean − s.d. of a skewed positive metric drops below zero and the band would fall off
    the axis like a wall."""
    agg = rows.groupby(x)[metric].agg(["mean", "std", "median"]).reset_index()
    ax.plot(agg[x], agg["mean"], **{"marker": "o", "markersize": 3, **line})
    if median:
        # a leading "_" keeps the median out of the legend (the title says "dotted: median")
        ax.plot(agg[x], agg["median"], color=line.get("color"), linestyle=":", linewidth=1,
                label=f"_median: {line.get('label', metric)}")
    if log:
        low, high = rows.groupby(x)[metric].quantile([0.16, 0.84]).unstack().to_numpy().T
    else:
        low, high = agg["mean"] - agg["std"].fillna(0), agg["mean"] + agg["std"].fillna(0)
    ax.fill_between(agg[x], low, high, color=line.get("color"), alpha=0.2, linewidth=0)
    return agg
