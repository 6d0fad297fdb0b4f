"""Multivariate Gaussian (MAD §4, App. H): fit Eq. 1, sample N(μ̂, λΣ̂).

Truth: N(0, I_d). Fit: unbiased mean and covariance (Eq. 1, 1/(n-1)), so that in
the fully synthetic loop E[tr Σ̂_t] = λ^(t-1) tr Σ with generation 1 fitted to
real data. Sampling uses an eigendecomposition, so it also works when Σ̂ is
singular (n <= d, App. H.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from madray.config import require
from madray.metrics.frechet import frechet_distance
from madray.models.base import Family


@dataclass(frozen=True)
class Params:
    d: int = 2  # dimension

    def __post_init__(self):
        require(self.d >= 1, "params.gaussian.d", self.d, "the dimension must be >= 1")


def fit_gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 1: per-replicate mean and unbiased covariance of x with shape (R, n, d)."""
    mean = x.mean(axis=1)
    xc = x - mean[:, None, :]
    cov = np.swapaxes(xc, 1, 2) @ xc / (x.shape[1] - 1)
    return mean, cov


def sample_gaussian(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws per replicate from N(mean, cov); cov may be singular (PSD)."""
    evals, evecs = np.linalg.eigh(cov)
    root = evecs * np.sqrt(np.clip(evals, 0.0, None))[:, None, :]  # cov = root rootᵀ
    z = rng.standard_normal((mean.shape[0], n, mean.shape[1]))
    return mean[:, None, :] + z @ np.swapaxes(root, 1, 2)


class Gaussian(Family):
    name = "gaussian"
    Params = Params
    metric_names = ("mean_error", "trace_cov", "frechet")

    @classmethod
    def min_train_size(cls, params):
        return 2  # the unbiased covariance divides by n - 1

    @classmethod
    def floats_per_sample(cls, params):
        return params.d

    def sample_real(self, n, rng):
        return {"x": rng.standard_normal((self.replicates, n, self.params.d))}

    def fit(self, data, previous, rng):
        mean, cov = fit_gaussian(data["x"])
        return {"mean": mean, "cov": cov}

    def sample(self, state, n, lam, rng):
        return {"x": sample_gaussian(state["mean"], lam * state["cov"], n, rng)}

    def evaluate(self, state, rng):
        d = self.params.d
        metrics = {
            "mean_error": np.linalg.norm(state["mean"], axis=1),
            "trace_cov": np.trace(state["cov"], axis1=1, axis2=2),
        }
        if "frechet" in self.wanted:  # O(d³) per replicate: only when asked for
            # squared Fréchet (= W2²) distance to the truth N(0, I)
            metrics["frechet"] = np.asarray(frechet_distance(state["mean"], state["cov"], np.zeros(d), np.eye(d)))
        return metrics
