"""What a trial costs: its work units in closed form, seconds per generation = a + b·work per family.

`Family.work(cfg, n)` counts the work of one generation that trains on n samples (and draws from
the fit); every family's is affine in n, and every loop's training-set size is affine in the
generation t for t >= 2 (constant, or n_ini + (t-1)·n_s for accumulate). So the work of
generations 2 .. G-1 is an arithmetic series: a trial's total is four `work` calls, whatever G
(tests/test_pack.py checks it against the per-generation sum for every loop and family).

PRIOR holds costs measured on a 2-core machine, for deciding without a pilot which trials are
cheap enough to pack (pack.py); `madray plan` fits its own from a pilot (plan.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from madray.config import TrialConfig
from madray.loops import loop_class
from madray.models import family_class


def train_size(cfg: TrialConfig, t: int) -> int:
    return cfg.n_ini if t == 1 else loop_class(cfg.loop).train_size(cfg, t)


def work(cfg: TrialConfig, t: int) -> float:
    """The family's work units of generation t: training on its set, drawing the next one's samples."""
    n = train_size(cfg, t) + (loop_class(cfg.loop).n_synthetic(cfg) if t < cfg.generations else 0)
    return float(family_class(cfg.family).work(cfg, n))


def total_work(cfg: TrialConfig) -> float:
    """Σ_t work(cfg, t) over the trial's generations: first, last, and the series in between."""
    g = cfg.generations
    if g == 1:
        return work(cfg, 1)
    middle = g - 2  # generations 2 .. g-1: affine in t, so their mean is that of the two ends
    series = middle * (work(cfg, 2) + work(cfg, g - 1)) / 2 if middle > 0 else 0.0
    return work(cfg, 1) + series + work(cfg, g)


@dataclass(frozen=True)
class FamilyCost:
    """seconds per generation = a + b·work, fitted on the pilot's generations of one family."""

    a: float
    b: float
    points: int

    def seconds(self, w: float) -> float:
        return self.a + self.b * w


def trial_seconds(cfg: TrialConfig, cost: FamilyCost) -> float:
    """The generations' seconds: G·a + b·Σ work (closed form, see total_work)."""
    return cfg.generations * cost.a + cost.b * total_work(cfg)


# Seconds per generation of the analytic families, one BLAS thread: least squares of trial seconds on
# (G, Σ work) over quickstart, phase-transition and linreg trials on this 2-core machine (load average
# 3, so about 1.5x a quiet run's; only the ratios matter for packing). GMM's a is its metrics on the
# n_eval samples. Families not listed (the deep ones) are never packed: their generations take seconds.
PRIOR: dict[str, FamilyCost] = {
    "gaussian": FamilyCost(a=1.3e-3, b=1.9e-9, points=0),
    "gmm": FamilyCost(a=0.24, b=4.9e-9, points=0),
    "linreg": FamilyCost(a=1e-3, b=2.9e-9, points=0),
}


def prior_seconds(cfg: TrialConfig) -> float | None:
    """A rough estimate of the trial's seconds without a pilot, or None for a family without a prior."""
    cost = PRIOR.get(cfg.family)
    return None if cost is None else trial_seconds(cfg, cost)
