"""Wasserstein distances: between empirical sample sets, and in closed form between Gaussians.

`wasserstein_samples` solves the exact optimal-transport problem with POT's network simplex
(`ot.emd2`, uniform weights) while both sets have at most `exact_max` points. Larger sets are
*approximated* by the mean of W_p^p over `n_subsamples` independent random subsamples of
`exact_max` points from each set, then the p-th root. That estimate is biased upward: W_p^p is
jointly convex in the two measures and a subsample's empirical measure averages to the full
one, so by Jensen E[W_p^p(subsamples)] ≥ W_p^p(full sets). The bias is the usual small-sample
bias of empirical OT: it shrinks as `exact_max` grows, slowly in high dimension (rate about
exact_max^(-1/d)), so compare numbers computed with the same `exact_max`.

One-dimensional inputs are always exact, at any size, from sorted samples (quantile coupling).
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.spatial.distance
import scipy.stats

from madray.metrics.frechet import frechet_distance
from madray.metrics.validate import as_features, check_same_dim


def wasserstein_samples(
    x: np.ndarray,
    y: np.ndarray,
    exact_max: int = 3000,
    p: int = 2,
    seed: int | np.random.Generator | None = 0,
    n_subsamples: int = 4,
) -> float:
    """W_p between the empirical measures of samples x (n, d) and y (m, d), uniform weights.

    Returns the distance itself (not its p-th power). 1-D arrays are n samples of one feature.
    Exact when d = 1 or max(n, m) ≤ `exact_max`; otherwise the subsampled estimate described
    in the module docstring, seeded by `seed`.
    """
    xs = as_features(x, "first samples", allow_1d=True)
    ys = as_features(y, "second samples", allow_1d=True)
    check_same_dim(xs, ys, "first samples", "second samples")
    _check_positive(p, "p", minimum=1)
    _check_positive(exact_max, "exact_max", minimum=1)
    _check_positive(n_subsamples, "n_subsamples", minimum=1)
    if xs.shape[1] == 1:
        return _wasserstein_1d(xs[:, 0], ys[:, 0], p)
    if max(len(xs), len(ys)) <= exact_max:
        return _emd_power(xs, ys, p) ** (1.0 / p)
    rng = np.random.default_rng(seed)
    powers = [_emd_power(_subsample(xs, exact_max, rng), _subsample(ys, exact_max, rng), p) for _ in range(n_subsamples)]
    return float(np.mean(powers)) ** (1.0 / p)


def w2_gaussians(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float | np.ndarray:
    """Closed-form W2 between N(mu1, sigma1) and N(mu2, sigma2): the square root of the Fréchet distance.

    Batched exactly like `madray.metrics.frechet.frechet_distance`.
    """
    return np.sqrt(frechet_distance(mu1, sigma1, mu2, sigma2))


def _emd_power(x: np.ndarray, y: np.ndarray, p: int) -> float:
    """W_p^p by exact network simplex; fails loudly rather than return an unconverged cost."""
    cost = scipy.spatial.distance.cdist(x, y, "sqeuclidean")  # direct differences: exact 0 on duplicates
    if p != 2:
        cost = np.sqrt(cost) ** p
    if len(x) == len(y):
        # equal uniform weights: an optimal plan is a permutation (Birkhoff), so the exact
        # assignment solver gives the same value without importing POT (~10 s: it loads torch)
        rows, cols = scipy.optimize.linear_sum_assignment(cost)
        return float(cost[rows, cols].mean())
    import ot

    a = np.full(len(x), 1.0 / len(x))
    b = np.full(len(y), 1.0 / len(y))
    value, log = ot.emd2(a, b, cost, numItermax=max(100_000, 50 * len(x) * len(y)), log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd2 did not solve the transport problem exactly: {log['warning']}")
    return float(value)


def _wasserstein_1d(u: np.ndarray, v: np.ndarray, p: int) -> float:
    """Exact W_p on the line: integrate |F_u^-1(t) − F_v^-1(t)|^p over the merged quantile steps."""
    if p == 1:
        return float(scipy.stats.wasserstein_distance(u, v))
    u, v = np.sort(u), np.sort(v)
    n, m = len(u), len(v)
    # Step boundaries i/n and j/m, scaled by n·m to stay exact integers.
    steps = np.union1d(np.arange(n + 1, dtype=np.int64) * m, np.arange(m + 1, dtype=np.int64) * n)
    left = steps[:-1]  # each piece [left, next) lies inside step left // m of u and left // n of v
    width = np.diff(steps) / (n * m)
    return float(np.sum(width * np.abs(u[left // m] - v[left // n]) ** p)) ** (1.0 / p)


def _subsample(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= size else x[rng.choice(len(x), size=size, replace=False)]


def _check_positive(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
