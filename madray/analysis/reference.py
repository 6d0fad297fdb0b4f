"""What n i.i.d. real samples achieve: the curve n ↦ E[D_n] that defines n_e (MAD Eq. 3).

Truth N(0, I_d); the trial's own fit on n samples (sample mean; covariance over n − ddof: ddof = 1 is
Eq. 1's unbiased one, ddof = 0 the MLE, so a trial with `estimator: mle` gets n_e = n at n_s = 0, not
1.013·n). Three distances:

- `mean_error`, D = ‖μ̂ − μ‖²: E[D_n] = d/n exactly.
- `frechet`, D = squared Fréchet distance (= W2²) between N(μ̂, Σ̂) and the truth:
      E[D_n] = d/n + E Σ_i (√ℓ_i − 1)²,   ℓ = eigenvalues of Σ̂ ~ Wishart_d(n − 1, I)/(n − 1),
  since μ̂ and Σ̂ are independent and tr(Σ̂ + I − 2Σ̂^½) = Σ_i (√ℓ_i − 1)². Only d = 1 has a
  closed form (a Gamma-function ratio, used in the tests), so the covariance term is a Monte
  Carlo mean over Bartlett-decomposition draws, O(d³) per draw whatever n is, cached per n.
- `w2`, D = W2 = √(squared Fréchet): E[√(‖μ̂‖² + Σ_i (√ℓ_i − 1)²)] with ‖μ̂‖² ~ χ²_d/n drawn beside
  each covariance draw (μ̂ and Σ̂ are independent).

`invert(target)` finds n with E[D_n] = target on a geometric grid of n (log-log interpolation
between the bracketing points) and returns the local slope d log E[D] / d log n and the
Monte Carlo relative error of E[D] there, for the delta-method uncertainty of n_e.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

N_MIN, N_MAX = 2, 10**7
GRID = np.unique(np.round(np.geomspace(N_MIN, N_MAX, 500)).astype(np.int64))  # integers, then ~3% steps


@dataclass(frozen=True)
class Inverse:
    n: float  # n with E[D_n] = target (NaN outside [N_MIN, N_MAX])
    slope: float  # d log E[D_n] / d log n at n (≈ -1)
    rel_se: float  # Monte Carlo standard error of E[D_n] / E[D_n] at n


def frechet_cov_term(d: int, n: int, draws: int, seed: int, ddof: int = 1) -> tuple[float, float]:
    """Monte Carlo mean and standard error of E Σ_i (√ℓ_i − 1)² for Σ̂ ~ W_d(n − 1, I)/(n − ddof)."""
    terms = frechet_cov_draws(d, n, draws, seed, ddof)
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(draws))


@functools.cache
def frechet_cov_draws(d: int, n: int, draws: int, seed: int, ddof: int = 1) -> np.ndarray:
    """Per draw: Σ_i (√ℓ_i − 1)² for Σ̂ ~ W_d(n − 1, I)/(n − ddof) (Bartlett decomposition)."""
    k = n - 1
    rng = np.random.default_rng([seed, d, n, draws])
    if k >= d:  # Bartlett: W = L Lᵀ, L lower triangular, L_ii² ~ χ²_{k-i}, L_ij ~ N(0, 1) below
        lower = np.tril(rng.standard_normal((draws, d, d)), -1)
        diag = np.sqrt(rng.chisquare(k - np.arange(d), size=(draws, d)))
        root = lower + diag[:, :, None] * np.eye(d)
    else:  # rank k < d: W = Zᵀ Z with Z of shape (k, d); d − k eigenvalues are 0
        root = rng.standard_normal((draws, k, d))
    gram = root @ np.swapaxes(root, 1, 2)  # same nonzero eigenvalues as W, and faster than an SVD
    roots = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None) / (n - ddof))  # √ℓ_i
    terms = ((roots - 1.0) ** 2).sum(axis=1) + (d - roots.shape[1])
    terms.flags.writeable = False  # cached: shared by every caller
    return terms


class Reference:
    """E[D_n] for n i.i.d. real samples, for one distance and dimension d."""

    def __init__(self, d: int, draws: int | None = None, seed: int = 0, ddof: int = 1) -> None:
        self.d = d  # draws and seed: Monte Carlo size and seed, for references that need them
        self.ddof = ddof  # the trial's covariance estimator: 1 unbiased (Eq. 1), 0 MLE

    def expected(self, n: int) -> tuple[float, float]:
        """E[D_n] and its (Monte Carlo) standard error."""
        raise NotImplementedError

    def invert(self, target: float) -> Inverse:
        """n with E[D_n] = target, by bisection on GRID (E[D_n] decreases in n)."""
        f = lambda i: self.expected(int(GRID[i]))[0]  # noqa: E731
        lo, hi = 0, len(GRID) - 1
        if not (np.isfinite(target) and f(hi) <= target <= f(lo)):
            return Inverse(float("nan"), float("nan"), float("nan"))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if f(mid) >= target else (lo, mid)
        (f_lo, se_lo), (f_hi, se_hi) = self.expected(int(GRID[lo])), self.expected(int(GRID[hi]))
        step = math.log(f_hi / f_lo) / math.log(GRID[hi] / GRID[lo])
        n = float(GRID[lo]) * math.exp(math.log(target / f_lo) / step)
        # the slope for the error bar over a wider stencil: adjacent points differ by ~3%, close to the MC noise
        a, b = max(lo - 6, 0), min(hi + 6, len(GRID) - 1)
        slope = math.log(f(b) / f(a)) / math.log(GRID[b] / GRID[a])
        return Inverse(n, slope, max(se_lo / f_lo, se_hi / f_hi))


class MeanReference(Reference):
    """D = ‖μ̂ − μ‖²: E[D_n] = d/n, no Monte Carlo."""

    def expected(self, n):
        return self.d / n, 0.0

    def invert(self, target):
        if not (np.isfinite(target) and target > 0):
            return Inverse(float("nan"), float("nan"), float("nan"))
        return Inverse(self.d / target, -1.0, 0.0)


class FrechetReference(Reference):
    """D = squared Fréchet distance to N(0, I_d); covariance term by Monte Carlo."""

    def __init__(self, d: int, draws: int | None = None, seed: int = 0, ddof: int = 1) -> None:
        super().__init__(d, ddof=ddof)
        # one draw's relative spread is about 2/d, so 2e5/d² draws give ~0.5% (capped at small d)
        self.draws = draws or int(np.clip(200_000 // d**2, 50, 20_000))
        self.seed = seed

    def expected(self, n):
        cov, se = frechet_cov_term(self.d, int(n), self.draws, self.seed, self.ddof)
        return self.d / n + cov, se


class W2Reference(FrechetReference):
    """D = W2 = √(squared Fréchet distance) to N(0, I_d): the mean term ‖μ̂‖² ~ χ²_d/n drawn beside each covariance draw."""

    def expected(self, n):
        n = int(n)
        cov = frechet_cov_draws(self.d, n, self.draws, self.seed, self.ddof)
        mean_sq = np.random.default_rng([self.seed, self.d, n, self.draws, 1]).chisquare(self.d, self.draws) / n
        w2 = np.sqrt(mean_sq + cov)
        return float(w2.mean()), float(w2.std(ddof=1) / math.sqrt(self.draws))
