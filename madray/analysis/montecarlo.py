"""Monte Carlo references for the Gaussian loops, simulated through sufficient statistics.

An independent route to the numbers `madray run` produces for the gaussian family (truth
N(0, I_d), Eq. 1 fit or the MLE, samples from N(μ̂, λΣ̂)), used by `madray reproduce` where no
closed form exists. It never draws a sample: a block of m samples of N(m_0, C) is its count, its
mean m_0 + C^½ z/√m and its scatter matrix C^½ W C^½ with W ~ Wishart_d(m − 1, I) (Bartlett's
decomposition), and blocks pool exactly:

    N = N_a + N_b,   x̄ = (N_a x̄_a + N_b x̄_b)/N,   S = S_a + S_b + (N_a N_b/N)(x̄_a − x̄_b)(x̄_a − x̄_b)ᵀ,

so a generation costs O(d³) per draw whatever the pool's size (an accumulate loop of 100
generations as cheaply as a replace loop). Loops: `replace` (= fully_synthetic), `fresh_data`,
`synthetic_augmentation` (the fixed real set is the first n_r of generation 1's n_ini samples, as
madray's loop takes it: one block of n_r, pooled with a block of the other n_ini − n_r for generation 1),
`accumulate`, `accumulate_real` and `memory` (each of the n_s synthetic samples from a model
picked uniformly among the last K: multinomial counts per model, one block each).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from madray.errors import DataError
from madray.models.gaussian import ESTIMATORS

LOOPS = ("replace", "fully_synthetic", "fresh_data", "synthetic_augmentation", "accumulate", "accumulate_real", "memory")


@dataclass(frozen=True)
class Pool:
    """Sufficient statistics of a set of samples per draw: count (draws,), mean (draws, d), scatter (draws, d, d)."""

    n: np.ndarray
    mean: np.ndarray
    scatter: np.ndarray

    def __add__(self, other: Pool) -> Pool:
        """The pooled statistics (a draw where either side holds no samples takes the other's)."""
        n = self.n + other.n
        share = np.divide(self.n, n, out=np.zeros_like(n), where=n > 0)
        gap = self.mean - other.mean
        cross = np.divide(self.n * other.n, n, out=np.zeros_like(n), where=n > 0)[:, None, None]
        return Pool(n, share[:, None] * self.mean + (1 - share)[:, None] * other.mean,
                    self.scatter + other.scatter + cross * gap[:, :, None] * gap[:, None, :])


def wishart_identity(rng: np.random.Generator, df: np.ndarray, d: int) -> np.ndarray:
    """Scatter matrices W ~ Wishart_d(df, I), one per draw (df may differ per draw; df = 0 gives 0)."""
    draws = len(df)
    if np.all(df >= d):  # Bartlett: W = L Lᵀ, L_ii² ~ χ²_{df − i}, L_ij ~ N(0, 1) below the diagonal
        lower = np.tril(rng.standard_normal((draws, d, d)), -1)
        diag = np.sqrt(rng.chisquare(df[:, None] - np.arange(d)))
        root = lower + diag[:, :, None] * np.eye(d)
        return root @ np.swapaxes(root, 1, 2)
    rows = int(df.max())  # W = Zᵀ Z with Z's rows beyond df zeroed
    z = rng.standard_normal((draws, max(rows, 1), d)) * (np.arange(max(rows, 1)) < df[:, None])[:, :, None]
    return np.swapaxes(z, 1, 2) @ z


def block(rng: np.random.Generator, mean: np.ndarray, root: np.ndarray, m) -> Pool:
    """The statistics of m samples (scalar or per draw) of N(mean, root rootᵀ) per draw."""
    draws, d = mean.shape
    m = np.broadcast_to(np.asarray(m, dtype=float), (draws,)).copy()
    safe = np.maximum(m, 1.0)
    x_bar = mean + (root @ rng.standard_normal((draws, d, 1)))[:, :, 0] / np.sqrt(safe)[:, None]
    scatter = root @ wishart_identity(rng, np.maximum(m - 1, 0).astype(int), d) @ np.swapaxes(root, 1, 2)
    return Pool(m, np.where(m[:, None] > 0, x_bar, 0.0), scatter)


@dataclass(frozen=True)
class Model:
    mean: np.ndarray
    root: np.ndarray  # √λ Σ̂^½: the sampling distribution's square root


def _fit(pool: Pool, ddof: int, lam: float) -> tuple[Model, dict[str, np.ndarray]]:
    cov = pool.scatter / (pool.n - ddof)[:, None, None]
    evals, evecs = np.linalg.eigh(cov)
    roots = np.sqrt(np.clip(evals, 0.0, None))
    metrics = {"mean_error": np.linalg.norm(pool.mean, axis=1), "trace_cov": evals.sum(axis=1),
               "frechet": np.sum(pool.mean**2, axis=1) + np.sum((roots - 1.0) ** 2, axis=1)}
    return Model(pool.mean, evecs * (np.sqrt(lam) * roots)[:, None, :]), metrics


def _synthetic(rng, models: list[Model], n_s: int) -> Pool:
    """n_s samples, each from a model picked uniformly among `models` (one model: all from it)."""
    if len(models) == 1:
        return block(rng, models[0].mean, models[0].root, n_s)
    counts = rng.multinomial(n_s, np.full(len(models), 1 / len(models)), size=len(models[0].mean))
    pools = [block(rng, m.mean, m.root, counts[:, i]) for i, m in enumerate(models)]
    return functools.reduce(operator.add, pools)


def simulate(loop: str, *, d: int, n_ini: int, generations: int, n_r: int = 0, n_s: int = 100, lam: float = 1.0,
             K: int = 1, estimator: str = "unbiased", draws: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Per metric (mean_error, trace_cov, frechet as the gaussian family reports them): an array (draws, generations)."""
    if loop not in LOOPS or estimator not in ESTIMATORS:
        raise DataError(f"loop = {loop!r}, estimator = {estimator!r}: allowed loops {', '.join(LOOPS)}; "
                        f"estimators {', '.join(ESTIMATORS)}")
    rng = np.random.default_rng([seed, d, n_ini, n_r, n_s, K, generations])
    zero, eye = np.zeros((draws, d)), np.broadcast_to(np.eye(d), (draws, d, d))
    real = lambda m: block(rng, zero, eye, m)  # noqa: E731
    if loop == "synthetic_augmentation":
        if not 1 <= n_r <= n_ini:
            raise DataError(f"n_r = {n_r} is not allowed for synthetic_augmentation: 1 <= n_r <= n_ini = {n_ini}")
        fixed = real(n_r)
        pool = fixed + real(n_ini - n_r) if n_ini > n_r else fixed
    else:
        pool = real(n_ini)
    model, metrics = _fit(pool, ESTIMATORS[estimator], lam)
    history, out = [model], {k: [v] for k, v in metrics.items()}
    for _ in range(2, generations + 1):
        synthetic = _synthetic(rng, history[-K:] if loop == "memory" else history[-1:], n_s)
        if loop in ("replace", "fully_synthetic"):
            pool = synthetic
        elif loop in ("fresh_data", "memory"):
            pool = real(n_r) + synthetic
        elif loop == "synthetic_augmentation":
            pool = fixed + synthetic
        elif loop == "accumulate":
            pool = pool + synthetic
        else:  # accumulate_real
            pool = pool + real(n_r) + synthetic
        model, metrics = _fit(pool, ESTIMATORS[estimator], lam)
        history = [*history[-(K - 1):], model] if K > 1 else [model]
        for k, v in metrics.items():
            out[k].append(v)
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def as_results(values: dict[str, np.ndarray], trial_id: str, **config) -> pd.DataFrame:
    """A results-like table of one simulated trial (one row per draw and generation), for the reproduce checks."""
    R, G = next(iter(values.values())).shape
    columns = {"trial_id": trial_id, "family": "gaussian", "replicate": np.repeat(np.arange(R), G),
               "generation": np.tile(np.arange(1, G + 1), R), **{k: v.ravel() for k, v in values.items()}}
    return pd.DataFrame({**columns, **config})
