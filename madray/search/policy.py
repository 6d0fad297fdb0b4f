"""Where to evaluate next on one grid point: bisection on the bracket, replicates where it is unclear.

A plain object without Ray or files: the search runner feeds it one `Estimate` per evaluated
value (the statistic over every replicate batch run there) and asks `propose()` what to run next.
Given the same estimates it proposes the same trials, which is what makes a search resumable.

Coordinates: u = log(value) on a log scale, u = value on a linear one. A value is *resolved* when
its statistic's interval excludes the threshold, and its *side* is where its estimate lies
(admissible or not). The rule, in order:

1. Evaluate both ends of the range.
2. A value whose interval straddles the threshold gets another batch of replicates (up to
   `max_batches`), before anything else.
3. Both ends on the same side: no crossing in the range (admissible / inadmissible over the whole
   range; the statistic is assumed monotone in the knob, as n_e / n_r is in n_s).
4. Otherwise, the *estimate bracket* [a, b] is the pair of neighbouring values where the side
   changes, and the *interval* [L, H] runs from the last resolved value on the lower end's side to
   the first resolved value on the upper end's side. Bisect [a, b] (midpoint in u) while it is wider
   than the tolerance; then, while [L, H] is wider, bisect the wider of its outer gaps ([L, next
   value], [previous value, H]) down to a quarter of the tolerance: the values inside straddle the
   threshold even with `max_batches` batches, and only a value nearer L or H can be resolved and
   narrow [L, H].
5. Stop when neither bracket can shrink, or after `max_evaluations` trials (status "not converged").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FOUND = "found"
ADMISSIBLE = "admissible over the whole range"
INADMISSIBLE = "inadmissible over the whole range"
NOT_CONVERGED = "not converged"
FAILED = "failed"


@dataclass(frozen=True)
class Estimate:
    """The statistic at one value, pooled over its replicate batches, with a `level` interval."""

    value: float
    low: float
    high: float
    replicates: int


@dataclass
class BoundarySearch:
    """The search on one grid point: knob range, stopping rule, and what has been evaluated."""

    lo: float
    hi: float
    threshold: float
    tolerance: float
    log: bool
    integer: bool
    max_evaluations: int
    max_batches: int
    above: bool = True  # admissible when statistic >= threshold
    estimates: dict[float, Estimate] = field(default_factory=dict)
    batches: dict[float, int] = field(default_factory=dict)  # batches run (or running) per value
    pending: set[tuple[float, int]] = field(default_factory=set)
    failed: bool = False

    # ------------------------------------------------------------------ bookkeeping
    @property
    def evaluations(self) -> int:
        return sum(self.batches.values())

    def start(self, value: float, batch: int) -> None:
        self.batches[value] = max(self.batches.get(value, 0), batch + 1)
        self.pending.add((value, batch))

    def finish(self, value: float, batch: int, estimate: Estimate | None) -> None:
        """Record a finished batch; `estimate` pools every batch at `value` (None: the trial failed)."""
        self.pending.discard((value, batch))
        if estimate is None or not all(map(math.isfinite, (estimate.value, estimate.low, estimate.high))):
            self.failed = True
        elif not any(v == value for v, _ in self.pending):
            self.estimates[value] = estimate

    # ------------------------------------------------------------------ geometry
    def u(self, value: float) -> float:
        return math.log(value) if self.log else value

    def value_at(self, u: float) -> float:
        value = math.exp(u) if self.log else u
        return float(round(value)) if self.integer else value

    def narrow(self, a: float, b: float, tolerance: float | None = None) -> bool:
        """Is [a, b] within the tolerance: b/a − 1 on a log scale, (b − a)/(hi − lo) on a linear one."""
        width = b / a - 1 if self.log else (b - a) / (self.hi - self.lo)
        return width <= (self.tolerance if tolerance is None else tolerance)

    def midpoint(self, a: float, b: float) -> float | None:
        """The midpoint of [a, b] in u, or None if no new value fits strictly inside (integers)."""
        mid = self.value_at((self.u(a) + self.u(b)) / 2)
        return mid if a < mid < b and mid not in self.batches else None

    # ------------------------------------------------------------------ sides
    def admissible(self, value: float) -> bool:
        e = self.estimates[value]
        return e.value >= self.threshold if self.above else e.value <= self.threshold

    def resolved(self, value: float) -> bool:
        e = self.estimates[value]
        return e.low > self.threshold or e.high < self.threshold

    def brackets(self) -> tuple[float, float, float, float] | None:
        """(a, b, L, H) as in the module docstring, or None if both ends are on the same side."""
        values = sorted(self.estimates)
        low_side = self.admissible(self.lo)
        if self.admissible(self.hi) == low_side:
            return None
        b = next(v for v in values if self.admissible(v) != low_side)
        a = max(v for v in values if v < b)
        L = max((v for v in values if v <= a and self.resolved(v) and self.admissible(v) == low_side), default=self.lo)
        H = min((v for v in values if v >= b and self.resolved(v) and self.admissible(v) != low_side), default=self.hi)
        return a, b, L, H

    # ------------------------------------------------------------------ the rule
    def propose(self) -> list[tuple[float, int]] | None:
        """(value, batch) pairs to run now; [] while waiting for results; None when the search is over."""
        if self.failed:
            return None
        if self.pending:
            return []
        ends = [(v, 0) for v in (self.lo, self.hi) if v not in self.batches]
        if ends:
            return ends
        if self.evaluations >= self.max_evaluations:
            return None
        for value in sorted(self.estimates):
            if not self.resolved(value) and self.batches[value] < self.max_batches:
                return [(value, self.batches[value])]
        brackets = self.brackets()
        if brackets is None:
            return None
        a, b, L, H = brackets
        mid = None if self.narrow(a, b) else self.midpoint(a, b)
        if mid is None and not self.narrow(L, H):
            mid = self._outer_gap(L, H)
        return None if mid is None else [(mid, 0)]

    def _outer_gap(self, L: float, H: float) -> float | None:
        """Midpoint of the wider of [L, next value] and [previous value, H], down to a quarter of the tolerance."""
        inside = [v for v in sorted(self.estimates) if L <= v <= H]
        gaps = sorted([(inside[0], inside[1]), (inside[-2], inside[-1])], key=lambda g: self.u(g[1]) - self.u(g[0]),
                      reverse=True)
        for a, b in gaps:
            if self.narrow(a, b, self.tolerance / 4):
                continue
            mid = self.midpoint(a, b)
            if mid is not None:
                return mid
        return None

    # ------------------------------------------------------------------ the answer
    def status(self) -> str:
        if self.failed:
            return FAILED
        brackets = self.brackets()
        if brackets is None:
            return ADMISSIBLE if self.admissible(self.lo) else INADMISSIBLE
        a, b, _, _ = brackets
        converged = self.narrow(a, b) or self.midpoint(a, b) is None
        return FOUND if converged else NOT_CONVERGED

    def boundary(self) -> tuple[float, float, float]:
        """(value*, interval low, interval high); NaN when there is no crossing in the range (never made up).

        value* is the root of a straight line fitted in u to the estimates of every value in [L, H]
        (weights 1/SE², SE from each interval's half-width): the values the search concentrated on,
        where the statistic is close to the threshold and a line is a good local model. With two
        values it is the linear interpolation between a and b.
        """
        brackets = None if self.failed else self.brackets()
        if brackets is None:
            return math.nan, math.nan, math.nan
        a, b, L, H = brackets
        values = [v for v in sorted(self.estimates) if L <= v <= H]
        u = np.array([self.u(v) for v in values])
        f = np.array([self.estimates[v].value for v in values]) - self.threshold
        w = 1 / np.maximum([(self.estimates[v].high - self.estimates[v].low) ** 2 for v in values], 1e-300)
        slope, intercept = np.polyfit(u, f, 1, w=np.sqrt(w))
        star = -intercept / slope if slope != 0 else (self.u(a) + self.u(b)) / 2
        star = min(max(star, self.u(a)), self.u(b))  # the side change is between a and b
        return (math.exp(star) if self.log else star), L, H


def grid_crossing(values, statistic, threshold: float = 1.0, log: bool = True) -> float:
    """Where a gridded statistic first crosses the threshold, by interpolation between the two grid values
    around it (in log(value) on a log scale): the boundary as read off a dense grid. NaN if it never does."""
    values, statistic = np.asarray(values, dtype=float), np.asarray(statistic, dtype=float) - threshold
    change = np.flatnonzero(np.sign(statistic[:-1]) != np.sign(statistic[1:]))
    if not len(change):
        return math.nan
    i = int(change[0])
    u = np.log(values[i:i + 2]) if log else values[i:i + 2]
    star = u[0] + statistic[i] / (statistic[i] - statistic[i + 1]) * (u[1] - u[0])
    return float(np.exp(star) if log else star)
