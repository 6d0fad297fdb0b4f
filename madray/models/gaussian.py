"""Multivariate Gaussian (MAD §4, App. H): fit Eq. 1, sample N(μ̂, λΣ̂).

Truth: N(0, I_d). Fit (`params.gaussian.estimator`):
- `unbiased` (default): mean and unbiased covariance, MAD Eq. 1, "Σ̂ = 1/(n−1) Σ (x−μ̂)(x−μ̂)ᵀ",
  so that in the fully synthetic loop E[tr Σ̂_t] = λ^(t-1) tr Σ with generation 1 fitted to
  real data, while the median of tr Σ̂_t falls to 0 (MAD: Σ_t → 0 "almost surely").
- `mle`: maximum likelihood, 1/n, as in Kazdan et al.'s "Collapse or Thrive" Gaussian runs;
  then E[tr Σ̂_t] = ((n−1)/n)^t tr Σ for n samples per generation.
Sampling uses an eigendecomposition, so it also works when Σ̂ is singular (n <= d, App. H.2).

Oracles for curation (madray/curate): the true log density log N(x; 0, I), and a correction along
the optimal-transport map from the sampling distribution N(μ̂, λΣ̂) to the truth (`ot_correct`).
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
    estimator: str = "unbiased"  # covariance: "unbiased" 1/(n-1) (MAD Eq. 1) or "mle" 1/n (Kazdan et al.)

    def __post_init__(self):
        require(self.d >= 1, "params.gaussian.d", self.d, "the dimension must be >= 1")
        require(self.estimator in ESTIMATORS, "params.gaussian.estimator", self.estimator,
                f"one of {', '.join(ESTIMATORS)}")


# covariance estimator -> samples subtracted from n in the normaliser
ESTIMATORS = {"unbiased": 1, "mle": 0}


def fit_gaussian(x: np.ndarray, estimator: str = "unbiased") -> tuple[np.ndarray, np.ndarray]:
    """Per-replicate mean and covariance of x with shape (R, n, d): Eq. 1 (unbiased) or the MLE."""
    mean = x.mean(axis=1)
    cov = np.empty((x.shape[0], x.shape[2], x.shape[2]))
    for r in range(x.shape[0]):  # one replicate's centred copy at a time, not a second (R, n, d) array
        xc = x[r] - mean[r]
        np.matmul(xc.T, xc, out=cov[r])
    cov /= x.shape[1] - ESTIMATORS[estimator]
    return mean, cov


def sample_gaussian(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws per replicate from N(mean, cov); cov may be singular (PSD)."""
    if n == 0:  # a loop without synthetic samples (n_s = 0): no factorisation for nothing
        return np.empty((mean.shape[0], 0, mean.shape[1]))
    evals, evecs = np.linalg.eigh(cov)
    root = evecs * np.sqrt(np.clip(evals, 0.0, None))[:, None, :]  # cov = root rootᵀ
    out = np.empty((mean.shape[0], n, mean.shape[1]))
    z = np.empty((n, mean.shape[1]))  # reused: a fresh array per replicate costs its page faults again
    for r in range(mean.shape[0]):  # one replicate's normals at a time: the same stream as one (R, n, d) call
        np.matmul(rng.standard_normal(out=z), root[r].T, out=out[r])
        out[r] += mean[r]
    return out


def ot_correct(x: np.ndarray, mean: np.ndarray, cov: np.ndarray, gamma: float) -> np.ndarray:
    """Displacement interpolation x + γ (T(x) − x) towards the truth N(0, I) (Gillman et al. 2024).

    T is the optimal-transport (Monge) map from N(m, S) to N(0, I): T(x) = A (x − m) with
    A = S^(−1/2) (S^(1/2) I S^(1/2))^(1/2) S^(−1/2) = S^(−1/2), the closed form between Gaussians.
    So the corrected samples follow N((1 − γ) m, ((1 − γ) S^(1/2) + γ I)²): γ = 1 gives the truth,
    γ = 0 the samples unchanged. On a singular S the map acts on S's range (directions the model
    does not vary in stay collapsed).
    x: (R, n, d), mean (R, d), cov (R, d, d).
    """
    evals, evecs = np.linalg.eigh(cov)
    positive = evals > 1e-12 * np.max(evals, axis=1, keepdims=True)
    inv_sqrt = np.where(positive, 1.0 / np.sqrt(np.where(positive, evals, 1.0)), 0.0)
    a = (evecs * inv_sqrt[:, None, :]) @ np.swapaxes(evecs, 1, 2)  # S^(-1/2), symmetric
    mapped = (x - mean[:, None, :]) @ a  # (x - m) Aᵀ = A (x - m) per sample
    return (1.0 - gamma) * x + gamma * mapped


class Gaussian(Family):
    name = "gaussian"
    Params = Params
    metric_names = ("mean_error", "trace_cov", "frechet")
    # fit and draw work in place replicate by replicate: tracemalloc peaks 0.95–2.1× the held samples
    memory_factor = 2.5
    redraws_exactly = True  # numpy float64 throughout

    @classmethod
    def work(cls, cfg, n):
        d = cfg.params.d
        return cfg.replicates * (n * d * d + d**3)  # covariance and sampling O(n d²), its factorisation O(d³)

    @classmethod
    def min_train_size(cls, params):
        return 1 + ESTIMATORS[params.estimator]  # the unbiased covariance divides by n - 1

    @classmethod
    def floats_per_sample(cls, params):
        return params.d

    def sample_real(self, n, rng):
        return {"x": rng.standard_normal((self.replicates, n, self.params.d))}

    def fit(self, data, previous, rng):
        mean, cov = fit_gaussian(data["x"], self.params.estimator)
        return {"mean": mean, "cov": cov}

    def sample(self, state, n, lam, rng):
        return {"x": sample_gaussian(state["mean"], lam * state["cov"], n, rng)}

    def oracle_score(self, batch):
        x = batch["x"]
        return -0.5 * np.sum(x**2, axis=-1) - 0.5 * x.shape[-1] * np.log(2 * np.pi)

    def correct(self, batch, state, gamma):
        return {"x": ot_correct(batch["x"], state["mean"], self.cfg.lam * state["cov"], gamma)}

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
