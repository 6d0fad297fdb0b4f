"""Input checks shared by the metrics: fail early with a message that names the problem.

Every public metric calls these before doing any work, so a bad array (NaN rows from a
diverged model, a feature extractor with the wrong width, too few samples for k) is reported
as a `ValueError` that says which argument, which rows and what would fix it.
"""

from __future__ import annotations

import numpy as np


def as_features(x: object, name: str, *, allow_1d: bool = False) -> np.ndarray:
    """`x` as a C-contiguous float64 array of shape (n_samples, n_features).

    `name` ("generated features", "real features", ...) starts every message. With
    `allow_1d`, a 1-D array of n scalars is read as n samples of one feature.
    """
    arr = _numeric(x, name)
    if allow_1d and arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        expected = "a 1-D or 2-D array" if allow_1d else "a 2-D array (n_samples, n_features)"
        raise ValueError(f"{name} must be {expected}, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} are empty: shape {arr.shape}; need at least one sample and one feature")
    _check_finite_rows(arr, name)
    return np.ascontiguousarray(arr, dtype=np.float64)


def check_same_dim(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Both feature sets must live in the same space."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} have {a.shape[1]} dimensions but {name_b} have {b.shape[1]}; "
            "both must come from the same feature extractor"
        )


def check_k(k: object, n: int, name: str) -> int:
    """k must be a positive integer with at least k + 1 points (the k-th neighbour excludes self)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(
            f"k={k} needs at least {k + 1} {name} (the k-th nearest neighbour excludes the point itself), "
            f"got {n}; lower k or pass more samples"
        )
    return int(k)


def as_gaussian(mu: object, sigma: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean of shape (..., d) and covariance of shape (..., d, d) as float64 arrays."""
    mu_arr = _numeric(mu, f"{name} mean")
    sigma_arr = _numeric(sigma, f"{name} covariance")
    if mu_arr.ndim < 1 or mu_arr.shape[-1] == 0:
        raise ValueError(f"{name} mean must have shape (..., d) with d >= 1, got {mu_arr.shape}")
    d = mu_arr.shape[-1]
    if sigma_arr.ndim < 2 or sigma_arr.shape[-2:] != (d, d):
        raise ValueError(
            f"{name} covariance must have shape (..., {d}, {d}) to match its mean of shape {mu_arr.shape}, "
            f"got {sigma_arr.shape}"
        )
    for arr, what in ((mu_arr, "mean"), (sigma_arr, "covariance")):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} {what} contains {int(np.size(arr) - np.isfinite(arr).sum())} NaN or inf entries")
    return mu_arr.astype(np.float64, copy=False), sigma_arr.astype(np.float64, copy=False)


def _numeric(x: object, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def _check_finite_rows(arr: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        rows = "row" if bad.size == 1 else "rows"
        raise ValueError(f"{name} contain {bad.size} {rows} with NaN or inf (first at row {bad[0]})")
