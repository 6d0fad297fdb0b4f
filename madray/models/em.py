"""Expectation-maximisation for full-covariance Gaussian mixtures, batched over replicates.

scikit-learn's GaussianMixture fits one data set at a time; a sweep fits one
mixture per replicate per generation, so this runs the same EM updates
(scikit-learn's `reg_covar` convention, k-means++ seeding) on arrays of shape
(replicates, n, dim) at once. tests/test_gmm.py checks it against scikit-learn.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

LOG_2PI = np.log(2 * np.pi)


def kmeans_plusplus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds (R, k, D): each new centre drawn with probability ∝ squared distance."""
    reps, n, _ = x.shape
    rows = np.arange(reps)
    centres = [x[rows, rng.integers(n, size=reps)]]
    d2 = np.sum((x - centres[0][:, None]) ** 2, axis=-1)
    for _ in range(1, k):
        total = d2.sum(axis=1, keepdims=True)
        prob = np.where(total > 0, d2 / np.where(total > 0, total, 1), 1.0 / n)
        idx = np.minimum((np.cumsum(prob, axis=1) < rng.random((reps, 1))).sum(axis=1), n - 1)
        centres.append(x[rows, idx])
        d2 = np.minimum(d2, np.sum((x - centres[-1][:, None]) ** 2, axis=-1))
    return np.stack(centres, axis=1)


def log_gaussians(x: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """log N(x_n | μ_k, Σ_k) with shape (R, n, K), via Cholesky factors of the precisions."""
    prec_chol = np.swapaxes(np.linalg.inv(np.linalg.cholesky(covs)), -1, -2)  # (R, K, D, D)
    y = x[:, None] @ prec_chol - means[:, :, None, :] @ prec_chol  # (R, K, n, D), batched BLAS
    log_det = np.sum(np.log(np.diagonal(prec_chol, axis1=-2, axis2=-1)), axis=-1)  # (R, K)
    log_p = -0.5 * (x.shape[-1] * LOG_2PI + np.sum(y**2, axis=-1)) + log_det[..., None]
    return np.swapaxes(log_p, 1, 2)


def m_step(x: np.ndarray, resp: np.ndarray, reg_covar: float) -> dict[str, np.ndarray]:
    """Weights, means and covariances from responsibilities (R, n, K)."""
    nk = resp.sum(axis=1) + 10 * np.finfo(resp.dtype).eps  # (R, K)
    resp_t = np.swapaxes(resp, 1, 2)  # (R, K, n)
    means = resp_t @ x / nk[..., None]
    diff = x[:, None] - means[:, :, None, :]  # (R, K, n, D)
    covs = np.swapaxes(resp_t[..., None] * diff, -1, -2) @ diff / nk[..., None, None]
    covs = covs + reg_covar * np.eye(x.shape[-1])
    return {"weights": nk / nk.sum(axis=1, keepdims=True), "means": means, "covs": covs}


def e_step(x: np.ndarray, mix: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Responsibilities (R, n, K) and mean log-likelihood per replicate (R,)."""
    log_p = log_gaussians(x, mix["means"], mix["covs"]) + np.log(mix["weights"])[:, None, :]
    log_norm = logsumexp(log_p, axis=-1)
    return np.exp(log_p - log_norm[..., None]), log_norm.mean(axis=1)


def initial_mixture(x: np.ndarray, k: int, rng: np.random.Generator, reg_covar: float) -> dict[str, np.ndarray]:
    """Hard-assign each point to its nearest k-means++ seed, then one M-step (as scikit-learn does)."""
    centres = kmeans_plusplus(x, k, rng)
    nearest = np.argmin(np.sum((x[:, :, None, :] - centres[:, None]) ** 2, axis=-1), axis=-1)
    return m_step(x, np.eye(k)[nearest], reg_covar)


def fit_mixture(
    x: np.ndarray,
    init: dict[str, np.ndarray],
    max_iter: int = 100,
    tol: float = 1e-4,
    reg_covar: float = 1e-6,
) -> dict[str, np.ndarray]:
    """EM from `init`; each replicate stops once its mean log-likelihood gains less than tol.

    Converged replicates leave the batch, so a batch costs what its replicates
    would cost one by one, not max_iter times the slowest one.
    """
    mix = {k: v.copy() for k, v in init.items()}
    active = np.arange(x.shape[0])
    prev = np.full(x.shape[0], -np.inf)
    for _ in range(max_iter):
        resp, ll = e_step(x[active], {k: v[active] for k, v in mix.items()})
        for k, v in m_step(x[active], resp, reg_covar).items():
            mix[k][active] = v
        still = np.abs(ll - prev[active]) >= tol
        prev[active] = ll
        active = active[still]
        if active.size == 0:
            break
    return mix


def sample_mixture(mix: dict[str, np.ndarray], n: int, cov_scale: float, rng: np.random.Generator) -> np.ndarray:
    """n draws per replicate from the mixtures with every covariance scaled by cov_scale."""
    reps, k, dim = mix["means"].shape
    cdf = np.cumsum(mix["weights"], axis=1)
    comp = np.minimum((rng.random((reps, n, 1)) > cdf[:, None, :]).sum(axis=-1), k - 1)  # (R, n)
    chol = np.linalg.cholesky(cov_scale * mix["covs"])  # (R, K, D, D)
    rows = np.arange(reps)[:, None]
    z = rng.standard_normal((reps, n, dim))
    return mix["means"][rows, comp] + np.einsum("rnde,rne->rnd", chol[rows, comp], z)
