"""Where to evaluate next on one grid point: ITP root-finding on the bracket, replicates at its ends.

A plain object without Ray or files: the search runner feeds it one `Estimate` per evaluated
value (the statistic over every replicate batch run there) and asks `propose()` what to run next.
Given the same estimates it proposes the same trials, which is what makes a search resumable.

Coordinates: u = log(value) on a log scale, u = value on a linear one. A value is *resolved* when
its statistic's interval excludes the threshold, and its *side* is where its estimate lies
(admissible or not). The *estimate bracket* [a, b] is the pair of neighbouring values where the side
changes; the *interval* [L, H] runs from the last resolved value on the lower end's side to the
first resolved value on the upper end's side. The rule, in order:

1. Evaluate both ends of the range (one batch each).
2. Both ends on the same side: no crossing in the range (admissible / inadmissible over the whole
   range; the statistic is assumed monotone in the knob, as n_e / n_r is in n_s), once an end whose
   interval straddles the threshold has had its replicate batches (up to `max_batches`).
3. While [a, b] is wider than the tolerance: one batch at the ITP point of [a, b] (`next_value`:
   regula falsi on the two estimates, truncated towards the midpoint, projected so that it never
   takes more than one step more than bisection).
4. [a, b] within the tolerance: a and b, if their intervals straddle the threshold, get replicate
   batches (up to `max_batches`); a batch that moves an estimate across the threshold moves the
   bracket, and step 3 resumes.
5. Then, while [L, H] is wider than the tolerance, one *guard* value on each side where the
   statistic should be resolved with one batch (`_guard`), unless a value was already evaluated
   there.
6. Stop when nothing is left to do (status "found") or after `max_evaluations` trials (status "not
   converged" if [a, b] is still wider than the tolerance).
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
ITP_K1 = 0.2  # truncation δ = ITP_K1 · width² / range (Oliveira & Takahashi's κ1 = 0.2/range, κ2 = 2)
ITP_SLACK = 1  # n0: at most one step more than bisection
GUARD_MARGIN = 2.0  # a guard value sits this many one-batch interval half-widths from the boundary estimate


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
    def f(self, value: float) -> float:
        """The estimate's signed distance to the threshold."""
        return self.estimates[value].value - self.threshold

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

    def tight(self, a: float, b: float) -> bool:
        """Is the estimate bracket [a, b] done: within the tolerance, or no new (integer) value fits inside."""
        return self.narrow(a, b) or self.midpoint(a, b) is None

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
        brackets = self.brackets()
        if brackets is None:  # no crossing by the estimates: the ends' intervals must say so too
            return self._replicate((self.lo, self.hi))
        a, b, L, H = brackets
        if not self.tight(a, b):
            return [(self.next_value(a, b), 0)]
        more = self._replicate((a, b))
        if more is None and not self.narrow(L, H):
            guard = self._guard(a, b, L, H)
            more = None if guard is None else [(guard, 0)]
        return more

    def _replicate(self, values: tuple[float, ...]) -> list[tuple[float, int]] | None:
        """Another batch at the first of `values` that more batches could resolve, or None (done).

        A value qualifies while its interval straddles the threshold, it has fewer than `max_batches`
        batches, and its estimate is farther from the threshold than the interval's half-width at
        `max_batches` (half-width ∝ 1/√replicates): were the estimate to stay where it is, the full
        batches would resolve it. Closer than that, more batches would most likely still straddle.
        """
        for value in values:
            e, batches = self.estimates[value], self.batches[value]
            reach = (e.high - e.low) / 2 * math.sqrt(batches / self.max_batches)
            if not self.resolved(value) and batches < self.max_batches and abs(self.f(value)) > reach:
                return [(value, batches)]
        return None

    def next_value(self, a: float, b: float) -> float:
        """The ITP step (interpolate, truncate, project; Oliveira & Takahashi 2021) inside [a, b], in u.

        Regula falsi on the two estimates proposes the root of their secant; truncation moves it by
        δ = κ1·width² towards the midpoint, so that the bracket shrinks from both ends; projection keeps
        it within r_j of the midpoint, so that the search never needs more than n_½ + 1 steps, where
        plain bisection needs n_½ = ⌈log2(range / tolerance)⌉. j counts the values evaluated inside
        the range (not its ends).
        """
        ua, ub, fa, fb = self.u(a), self.u(b), self.f(a), self.f(b)
        width, half = ub - ua, (ua + ub) / 2
        total = self.u(self.hi) - self.u(self.lo)
        step = self._tolerance_u() / 2
        n_max = math.ceil(math.log2(max(total / (2 * step), 1))) + ITP_SLACK
        j = sum(1 for v in self.batches if self.lo < v < self.hi)
        radius = max(step * 2 ** (n_max - j) - width / 2, 0.0)
        falsi = (ub * fa - ua * fb) / (fa - fb) if fa != fb else half
        delta = ITP_K1 / total * width ** 2
        sigma = math.copysign(1.0, half - falsi)
        x = falsi + sigma * delta if delta <= abs(half - falsi) else half
        if abs(x - half) > radius:
            x = half - sigma * radius
        return self._inside(a, b, x)

    def _guard(self, a: float, b: float, L: float, H: float) -> float | None:
        """A value beyond a (or b), towards L (H), where the statistic should be resolved.

        It lies `GUARD_MARGIN` one-batch half-widths of the interval away from the boundary estimate
        along the secant from the bracket end to L (H), and at least one tolerance away. None when
        every such place is within half a tolerance of a value already evaluated, or of L (H) itself
        (a guard there would not narrow [L, H] by more).
        """
        star, half_tol = self.u(self.boundary()[0]), self._tolerance_u() / 2
        for inner, outer, sign in ((a, L, -1.0), (b, H, 1.0)):
            if inner == outer:
                continue
            e = self.estimates[inner]
            half_one = (e.high - e.low) / 2 * math.sqrt(self.batches[inner])
            slope = abs((self.f(outer) - self.f(inner)) / (self.u(outer) - self.u(inner)))
            u = star + sign * max(GUARD_MARGIN * half_one / slope if slope > 0 else math.inf, self._tolerance_u())
            if sign * (self.u(outer) - u) <= half_tol or any(abs(self.u(v) - u) <= half_tol for v in self.batches):
                continue
            return self._inside(min(inner, outer), max(inner, outer), u)
        return None

    def _tolerance_u(self) -> float:
        """The tolerance as a width in u."""
        return math.log1p(self.tolerance) if self.log else self.tolerance * (self.hi - self.lo)

    def _inside(self, a: float, b: float, u: float) -> float:
        """The value at u, moved strictly inside (a, b) (integers: the nearest that fits; tight() says one does)."""
        value = self.value_at(u)
        if a < value < b:
            return value
        if self.integer:
            return a + 1 if value <= a else b - 1
        return self.value_at((self.u(a) + self.u(b)) / 2)

    # ------------------------------------------------------------------ the answer
    def status(self) -> str:
        if self.failed:
            return FAILED
        brackets = self.brackets()
        if brackets is None:
            return ADMISSIBLE if self.admissible(self.lo) else INADMISSIBLE
        a, b, _, _ = brackets
        return FOUND if self.tight(a, b) else NOT_CONVERGED

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
