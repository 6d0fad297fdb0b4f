"""Fréchet distance between Gaussians (the FID formula of Heusel et al. 2017).

    FD(N(μ1, Σ1), N(μ2, Σ2)) = ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½)

This is the *squared* 2-Wasserstein distance between the two Gaussians. FID reports this
squared value and so do we; `madray.metrics.wasserstein.w2_gaussians` is its square root.

We take a symmetric route: factor Σ1 = L Lᵀ (Cholesky), then the eigenvalues (no
eigenvectors, `eigvalsh`) of the symmetric PSD matrix Lᵀ Σ2 L (clamped at 0), whose square
roots sum to the trace term: Σ1 Σ2 = L (Lᵀ Σ2 L) L⁻¹ has the same eigenvalues, and so does
Σ1^½ Σ2 Σ1^½. pytorch-fid instead calls `scipy.linalg.sqrtm(Σ1 Σ2)` on the non-symmetric
product: the same value on well-conditioned inputs, but an order of magnitude slower at
d = 2048 (benchmarks/bench_metrics.py), and it can return complex parts or fail when a
covariance is singular.

Singular covariances (fewer samples than dimensions, collapsed generations) are well defined
here: where Cholesky fails, Σ1 = V diag(w) Vᵀ from `eigh` gives the factor V diag(√max(w, 0))
instead (the matrix is then exactly Σ1^½ Σ2 Σ1^½ up to rotation). Both matrices are PSD, and
the clamping only removes rounding noise of size ~1e-16·‖Σ‖ around the zero eigenvalues. No ε·I is added.
Square roots amplify that noise: each zero eigenvalue can contribute ~√(1e-16·‖Σ‖) to the
trace term, so expect ~1e-8·‖Σ‖^½ absolute accuracy per zero eigenvalue, not 1e-16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from madray.metrics.validate import as_features, as_gaussian, check_same_dim


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (N − 1 denominator, as `np.cov`) of features (n, d).

    A single sample has no covariance: n = 1 raises `ValueError`.
    """
    feats = as_features(x, "features")
    if feats.shape[0] < 2:
        raise ValueError(f"features need at least 2 samples for a covariance, got {feats.shape[0]}")
    return feats.mean(axis=0), np.atleast_2d(np.cov(feats, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float | np.ndarray:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017).

    Batched: means of shape (..., d) and covariances of shape (..., d, d) broadcast against
    each other, e.g. a batch of R fitted replicates (R, d), (R, d, d) against the truth
    (d,), (d, d); the result has the broadcast batch shape, or is a float when unbatched.
    Rounding can push the exact value 0 (identical Gaussians) slightly negative; the result
    is clamped at 0.
    """
    mu1, sigma1 = as_gaussian(mu1, sigma1, "first Gaussian")
    mu2, sigma2 = as_gaussian(mu2, sigma2, "second Gaussian")
    if mu1.shape[-1] != mu2.shape[-1]:
        raise ValueError(f"the Gaussians have different dimensions: {mu1.shape[-1]} and {mu2.shape[-1]}")
    batch = _batch_shape(mu1, sigma1, mu2, sigma2)
    # Σ1^½ Σ2 Σ1^½ and Σ2^½ Σ1 Σ2^½ have the same spectrum: decompose the less batched one.
    if _batch_size(sigma2) < _batch_size(sigma1):
        mu1, sigma1, mu2, sigma2 = mu2, sigma2, mu1, sigma1
    fd = RootedGaussian.of(mu1, sigma1).distance(mu2, sigma2)
    return _as_result(np.broadcast_to(fd, batch))


def frechet_distance_features(generated: np.ndarray, real: np.ndarray) -> float:
    """FID formula between Gaussians fitted to two feature sets (n, d) (`gaussian_stats`)."""
    gen = as_features(generated, "generated features")
    ref = as_features(real, "real features")
    check_same_dim(gen, ref, "generated features", "real features")
    return float(frechet_distance(*gaussian_stats(gen), *gaussian_stats(ref)))


@dataclass(frozen=True)
class RootedGaussian:
    """A Gaussian (or a batch) with a factor Σ = F Fᵀ cached.

    The expensive half of the Fréchet distance, done once for a reference that is compared
    against many others (every generation of every trial against the same real statistics).
    F is the Cholesky factor L; where Σ is singular (or not positive definite to rounding),
    F = V diag(√max(w, 0)) from `eigh`, which works for any PSD Σ.
    """

    mean: np.ndarray  # (..., d)
    trace: np.ndarray  # (...,) tr Σ
    factor: np.ndarray  # (..., d, d) F with Σ = F Fᵀ

    @classmethod
    def of(cls, mu: np.ndarray, sigma: np.ndarray) -> RootedGaussian:
        """Factor `sigma` (float64, symmetric PSD up to rounding; no checks)."""
        try:
            factor = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:  # singular: a collapsed generation, fewer samples than dimensions
            w, v = np.linalg.eigh(sigma)
            factor = v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]
        return cls(mu, _trace(sigma), factor)

    def distance(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Squared Fréchet distance to N(mu, sigma), broadcast over batch dimensions."""
        # Σ1 Σ2 = F Fᵀ Σ2 is similar to the symmetric PSD Fᵀ Σ2 F: the same eigenvalues, and
        # for F = Σ1^½ the same matrix as Σ1^½ Σ2 Σ1^½. Eigenvalues only: no eigenvectors.
        inner = np.swapaxes(self.factor, -1, -2) @ sigma @ self.factor
        inner = 0.5 * (inner + np.swapaxes(inner, -1, -2))  # symmetric up to rounding; make it exact
        trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(inner), 0.0, None)).sum(axis=-1)
        diff = self.mean - mu
        fd = np.einsum("...i,...i->...", diff, diff) + self.trace + _trace(sigma) - 2.0 * trace_sqrt
        return np.maximum(fd, 0.0)


def _batch_shape(mu1, sigma1, mu2, sigma2) -> tuple[int, ...]:
    shapes = (mu1.shape[:-1], sigma1.shape[:-2], mu2.shape[:-1], sigma2.shape[:-2])
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            "batch shapes do not broadcast: mu1 {}, sigma1 {}, mu2 {}, sigma2 {}".format(*shapes)
        ) from None


def _trace(sigma: np.ndarray) -> np.ndarray:
    return np.trace(sigma, axis1=-2, axis2=-1)


def _batch_size(sigma: np.ndarray) -> int:
    return int(np.prod(sigma.shape[:-2], dtype=np.int64))


def _as_result(fd: np.ndarray) -> float | np.ndarray:
    fd = np.asarray(fd, dtype=np.float64)
    return float(fd) if fd.ndim == 0 else fd.copy()
