"""A madray model family from outside madray: scikit-learn's KernelDensity (docs/families.md).

Truth N(0, I_d). A fit keeps its training points and bandwidth h (numpy arrays: checkpointable
without pickle); the KDE is rebuilt from them. λ scales the kernel's variance: a draw is a
training point plus N(0, λh²I) noise, so a KDE on data of (biased) covariance S samples with
covariance S + λh²I.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import KernelDensity

import madray
from madray.config import require


@dataclass(frozen=True)
class Params:
    d: int = 2  # dimension of the truth N(0, I_d)
    bandwidth: float = 0.5  # kernel standard deviation h
    n_eval: int = 200  # held-out real points the log-likelihood is averaged over

    def __post_init__(self):
        require(self.d >= 1, "params.kde.d", self.d, "the dimension must be >= 1")
        require(self.bandwidth > 0, "params.kde.bandwidth", self.bandwidth, "the bandwidth must be > 0")
        require(self.n_eval >= 1, "params.kde.n_eval", self.n_eval, "must be >= 1")


def _kde(points: np.ndarray, bandwidth: float) -> KernelDensity:
    return KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(points)


class KDE(madray.Family):
    name = "kde"
    Params = Params
    metric_names = ("trace_cov", "mean_error", "log_likelihood")

    def sample_real(self, n, rng):
        return {"x": rng.standard_normal((self.replicates, n, self.params.d))}

    def fit(self, data, previous, rng):
        x = data["x"]
        return {"points": x, "bandwidth": np.full(len(x), self.params.bandwidth)}

    def sample(self, state, n, lam, rng):
        seeds = rng.integers(2**31, size=len(state["points"]))
        return {"x": np.stack([
            _kde(points, h * np.sqrt(lam)).sample(n, random_state=int(seed))  # variance λh²
            for points, h, seed in zip(state["points"], state["bandwidth"], seeds)])}

    def evaluate(self, state, rng):
        points, h = state["points"], state["bandwidth"]
        centred = points - points.mean(axis=1, keepdims=True)
        biased_trace = np.einsum("rnd,rnd->r", centred, centred) / points.shape[1]
        held_out = self.sample_real(self.params.n_eval, rng)["x"]
        return {
            "trace_cov": biased_trace + points.shape[2] * h**2,  # the model's covariance S + h²I
            "mean_error": np.linalg.norm(points.mean(axis=1), axis=1),
            "log_likelihood": np.array([_kde(p, b).score_samples(q).mean() for p, b, q in zip(points, h, held_out)]),
        }
