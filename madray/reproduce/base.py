"""What a reproduction is: a sweep file, a figure and a check of the paper's claim that returns a Verdict.

A check is a small pure function of the results DataFrame (`madray.load_results`), so a test can
call it on a shrunk run and on a manipulated table. It states each quantity it tests as a
`Finding`: the measured value, its standard error over replicates, the reference (a closed form
or a direction) and whether the value agrees with it. Two tolerances, both in standard errors:
a value *matches* a closed form when it is within Z_MATCH SE of it; a *direction* holds when the
difference lies beyond Z_DIRECTION SE on the claimed side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from madray.errors import DataError

Z_MATCH = 4.0  # |value − closed form| ≤ 4 SE: a false FAIL has probability ~6e-5 per finding
Z_DIRECTION = 2.0  # a claimed inequality must hold by more than 2 SE (one-sided ~2%)
SWEEPS = Path(__file__).resolve().parents[2] / "sweeps" / "reproduce"


@dataclass(frozen=True)
class Finding:
    """One tested quantity: measured value ± SE against the paper's reference."""

    quantity: str
    value: float
    se: float
    reference: str
    ok: bool

    def line(self) -> str:
        se = f" ± {self.se:.3g} (SE)" if np.isfinite(self.se) else ""
        return f"[{'ok' if self.ok else 'FAIL'}] {self.quantity} = {self.value:.4g}{se}; reference: {self.reference}"


@dataclass(frozen=True)
class Verdict:
    """PASS when every finding agrees with its reference (and there is at least one)."""

    name: str
    claim: str
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    def text(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'}: {self.name}: {self.claim}"
        return "\n".join([head, *(f"  {f.line()}" for f in self.findings)])


@dataclass(frozen=True)
class Experiment:
    """One catalogue entry; `sweep` is a file in sweeps/reproduce/, `paper_scale` the `--set`s of the paper's sizes."""

    name: str
    paper: str  # paper and figure/section
    claim: str  # the claim in one sentence
    check: Callable[[pd.DataFrame], Verdict]
    figure: Callable[[pd.DataFrame, str | None], Figure]
    cost: str  # measured laptop wall time of `madray reproduce NAME`
    deep: bool = False  # needs the torch families
    paper_scale: tuple[str, ...] = ()
    note: str = ""  # how the laptop run departs from the paper's
    sweep_file: str = ""  # default: <name>.yaml

    @property
    def sweep(self) -> Path:
        return SWEEPS / (self.sweep_file or f"{self.name}.yaml")

    def verdict(self, findings: list[Finding]) -> Verdict:
        return Verdict(self.name, self.claim, tuple(findings))


# --------------------------------------------------------------------------- statistics of the findings
def mean_se(values) -> tuple[float, float]:
    """Mean and standard error of independent replicate values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def matches(quantity: str, value: float, se: float, reference: float, source: str) -> Finding:
    """value within Z_MATCH standard errors of a closed form."""
    ok = bool(np.isfinite(value) and abs(value - reference) <= Z_MATCH * se)
    return Finding(quantity, value, se, f"{source} = {reference:.4g} (within {Z_MATCH:g} SE)", ok)


def exceeds(quantity: str, difference: float, se: float, claim: str) -> Finding:
    """A claimed inequality written as difference > 0; it holds beyond Z_DIRECTION standard errors.

    Without a standard error (one replicate, as in the deep families' laptop runs) only the sign
    is tested, and the reference says so.
    """
    if not np.isfinite(se):
        return Finding(quantity, difference, se, f"direction: {claim}, i.e. > 0 (sign only: one replicate, no SE)",
                       bool(np.isfinite(difference) and difference > 0))
    ok = bool(np.isfinite(difference) and difference > Z_DIRECTION * se)
    return Finding(quantity, difference, se, f"direction: {claim}, i.e. > {Z_DIRECTION:g} SE above 0", ok)


def decline(df: pd.DataFrame, metric: str, label: str, claim: str) -> Finding:
    """metric at generation 1 minus at the last generation, paired by replicate, for the rows of one trial."""
    if metric not in df or df[metric].isna().all():
        return missing(f"{label}: {metric} drop", f"these results have no {metric!r} column")
    drop = per_replicate(df, metric, 1) - per_replicate(df, metric)
    return exceeds(f"{label}: {metric}(t=1) − {metric}(t={int(df['generation'].max())})", *mean_se(drop), claim)


def final_gap(df: pd.DataFrame, metric: str, high: dict, low: dict, claim: str) -> Finding:
    """metric(high) − metric(low) at the last generation, each trial's replicates independent."""
    if metric not in df or df[metric].isna().all():
        return missing(f"{metric} gap", f"these results have no {metric!r} column")
    a, b = (per_replicate(rows_of(df, **w), metric) for w in (high, low))
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    name = lambda w: ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in w.items())  # noqa: E731
    return exceeds(f"final {metric}({name(high)}) − {metric}({name(low)})", ma - mb, math.hypot(sa, sb), claim)


def below(quantity: str, value: float, se: float, bound: float, claim: str) -> Finding:
    """value < bound beyond Z_DIRECTION standard errors."""
    ok = bool(np.isfinite(value) and bound - value > Z_DIRECTION * se)
    return Finding(quantity, value, se, f"direction: {claim} (< {bound:.4g} by > {Z_DIRECTION:g} SE)", ok)


def missing(quantity: str, why: str) -> Finding:
    """A quantity the results cannot provide: the verdict FAILs and says why."""
    return Finding(quantity, float("nan"), float("nan"), why, False)


def rows_of(df: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows with column == value for each keyword (floats compared with a tolerance)."""
    keep = pd.Series(True, index=df.index)
    for column, value in where.items():
        keep &= np.isclose(df[column], value) if isinstance(value, float) else (df[column] == value)
    return df[keep]


def per_replicate(df: pd.DataFrame, metric: str, generation: int | None = None) -> pd.Series:
    """metric by replicate at `generation` (default: each trial's last) of the rows given (one trial)."""
    if df.empty:
        raise DataError(f"no rows to read {metric!r} from")
    if df["trial_id"].nunique() != 1:
        raise DataError(f"expected the rows of one trial, got {df['trial_id'].nunique()}")
    g = int(df["generation"].max()) if generation is None else generation
    return df[df["generation"] == g].set_index("replicate")[metric]


def values(df: pd.DataFrame, column: str) -> list:
    """Sorted distinct values of a column."""
    return sorted(df[column].unique().tolist())
