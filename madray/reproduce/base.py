"""What a reproduction is: a sweep file, a figure and a check of the paper's claim that returns a Verdict.

A check is a small pure function of the results DataFrame (`madray.load_results`), so a test can
call it on a shrunk run and on a manipulated table. It states each quantity it tests as a
`Finding`: the measured value, its standard error over replicates, the reference (a closed form
or a direction) and whether the value agrees with it. Two tolerances, both in standard errors:
a value *matches* a closed form when it is within Z_MATCH SE of it; a *direction* holds when the
difference lies beyond Z_DIRECTION SE on the claimed side. Each finding also states the smallest
effect the run could detect (`detectable`: the deviation its test catches with probability
POWER, (z + z_POWER)·SE), so a PASS says how large a wrong implementation's error could hide.

A verdict is PASS, FAIL, NOT STEADY (a steady-state quantity read from a window that still
drifts: run more generations) or INCONCLUSIVE (the run is too small to detect the predicted
effect); only PASS exits 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import norm

from madray.config import KNOB_COLUMNS
from madray.errors import DataError

Z_MATCH = 4.0  # |value − closed form| ≤ 4 SE: a false FAIL has probability ~6e-5 per finding
Z_DIRECTION = 2.0  # a claimed inequality must hold by more than 2 SE (one-sided ~2%)
Z_STEADY = 4.0  # |drift_z| above this: the steady window still holds the approach to the steady state
POWER = 0.8  # `detectable` is the effect a finding's test catches with this probability
Z_POWER = float(norm.ppf(POWER))
PASS, FAIL, NOT_STEADY, INCONCLUSIVE = "PASS", "FAIL", "NOT STEADY", "INCONCLUSIVE"
SWEEPS = Path(__file__).resolve().parents[2] / "sweeps" / "reproduce"


@dataclass(frozen=True)
class Finding:
    """One tested quantity: measured value ± SE against the paper's reference."""

    quantity: str
    value: float
    se: float
    reference: str
    ok: bool
    detectable: float = float("nan")  # smallest deviation from the reference the test catches with probability POWER
    outcome: str = ""  # NOT_STEADY or INCONCLUSIVE where ok is False for that reason; "" otherwise

    @property
    def result(self) -> str:
        return "ok" if self.ok else (self.outcome or FAIL)

    def line(self) -> str:
        se = f" ± {self.se:.3g} (SE)" if np.isfinite(self.se) else " (no SE)"
        mde = f"; detects ≥ {self.detectable:.3g}" if np.isfinite(self.detectable) else ""
        return f"[{self.result}] {self.quantity} = {self.value:.4g}{se}; reference: {self.reference}{mde}"


@dataclass(frozen=True)
class Verdict:
    """PASS when every finding agrees with its reference (and there is at least one); otherwise the
    worst outcome among the findings: FAIL, then NOT STEADY, then INCONCLUSIVE."""

    name: str
    claim: str
    findings: tuple[Finding, ...]

    @property
    def status(self) -> str:
        results = {f.result for f in self.findings}
        if not self.findings or FAIL in results:
            return FAIL
        return next((s for s in (NOT_STEADY, INCONCLUSIVE) if s in results), PASS)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def text(self) -> str:
        head = f"{self.status}: {self.name}: {self.claim}"
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


def smallest_detectable(se: float, z: float) -> float:
    """The deviation a test at z standard errors catches with probability POWER (one side)."""
    return (z + Z_POWER) * se


def matches(quantity: str, value: float, se: float, reference: float, source: str, reference_se: float = 0.0) -> Finding:
    """value within Z_MATCH standard errors of a closed form (or of a Monte Carlo reference with its own SE)."""
    se = math.hypot(se, reference_se)
    ok = bool(np.isfinite(value) and abs(value - reference) <= Z_MATCH * se)
    ref = f"{reference:.4g} ± {reference_se:.2g}" if reference_se else f"{reference:.4g}"
    return Finding(quantity, value, se, f"{source} = {ref} (within {Z_MATCH:g} SE)", ok, smallest_detectable(se, Z_MATCH))


def exceeds(quantity: str, difference: float, se: float, claim: str) -> Finding:
    """A claimed inequality written as difference > 0; it holds beyond Z_DIRECTION standard errors.

    Without a standard error (one replicate) a sign cannot tell the loop from seed-to-seed noise:
    the finding is INCONCLUSIVE (run replicates ≥ 2), whatever the sign.
    """
    if not np.isfinite(se):
        return Finding(quantity, difference, se, f"direction: {claim}, i.e. > 0; one replicate: no SE, so no test "
                       "(run replicates >= 2)", False, outcome=INCONCLUSIVE)
    ok = bool(np.isfinite(difference) and difference > Z_DIRECTION * se)
    return Finding(quantity, difference, se, f"direction: {claim}, i.e. > {Z_DIRECTION:g} SE above 0", ok,
                   smallest_detectable(se, Z_DIRECTION))


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
    return Finding(quantity, value, se, f"direction: {claim} (< {bound:.4g} by > {Z_DIRECTION:g} SE)", ok,
                   smallest_detectable(se, Z_DIRECTION))


def steady(table: pd.DataFrame, label: str = "") -> Finding:
    """The largest |drift_z| of a steady-state table (`steady_state`, `effective_sample_size`): NOT STEADY above Z_STEADY.

    A window that still drifts makes every steady-state number of the check a transient one."""
    if table.empty or table["drift_z"].isna().all():
        return missing(f"{label}steady window", "no drift_z: fewer than 2 generations in the steady window")
    worst = table.loc[table["drift_z"].abs().idxmax()]
    cell = ", ".join(f"{k}={worst[k]}" for k in KNOB_COLUMNS if k in table and table[k].nunique() > 1)
    z = float(worst["drift_z"])
    ok = abs(z) <= Z_STEADY
    return Finding(f"{label}largest |drift_z| over {len(table)} trial(s){f' ({cell})' if cell else ''}, "
                   f"window generations {int(worst['steady_from'])}-{int(worst['steady_to'])}", z, 1.0,
                   f"steady state: |drift_z| ≤ {Z_STEADY:g} (late half of the window minus the early half, in SE); "
                   "above it run more generations", ok, Z_STEADY, "" if ok else NOT_STEADY)


def inconclusive(finding: Finding, why: str) -> Finding:
    return dataclasses.replace(finding, ok=False, outcome=INCONCLUSIVE, reference=f"{finding.reference}; {why}")


def precise(finding: Finding, effect: float, what: str) -> Finding:
    """A "no difference" finding means something only if it could have seen `effect`: INCONCLUSIVE otherwise."""
    if finding.ok and not finding.detectable <= abs(effect):
        return inconclusive(finding, f"too noisy: {what} ({abs(effect):.3g}) is below what this run detects")
    return finding


def powered(finding: Finding, effect: float, what: str) -> Finding:
    """A direction that fails where the predicted `effect` is below what the run detects is INCONCLUSIVE, not FAIL."""
    if not finding.ok and not finding.outcome and not finding.detectable <= abs(effect):
        return inconclusive(finding, f"too small a run: {what} ({abs(effect):.3g}) is below what it detects")
    return finding


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
