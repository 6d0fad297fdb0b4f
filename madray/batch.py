"""Batches: dicts of arrays whose first two axes are (replicate, sample).

Every family's data (points, images with labels, regression pairs) is a Batch, so
loops can mix real and synthetic data without knowing what the arrays mean.
"""

from __future__ import annotations

import numpy as np

Batch = dict[str, np.ndarray]


def size(batch: Batch) -> int:
    """Number of samples per replicate."""
    return next(iter(batch.values())).shape[1]


def concat(batches: list[Batch]) -> Batch:
    """Join batches along the sample axis (empty batches are skipped)."""
    batches = [b for b in batches if b and size(b) > 0]
    if len(batches) == 1:
        return batches[0]
    return {k: np.concatenate([b[k] for b in batches], axis=1) for k in batches[0]}


def take(batch: Batch, idx: np.ndarray) -> Batch:
    """Per-replicate gather: idx has shape (replicates, m)."""
    out = {}
    for k, v in batch.items():
        shaped = idx.reshape(idx.shape + (1,) * (v.ndim - 2))
        out[k] = np.take_along_axis(v, shaped, axis=1)
    return out


def head(batch: Batch, n: int) -> Batch:
    """The first n samples of every replicate."""
    return {k: v[:, :n] for k, v in batch.items()}


def subsample(batch: Batch, n: int, rng: np.random.Generator) -> Batch:
    """n samples per replicate drawn without replacement, independently per replicate."""
    reps, total = next(iter(batch.values())).shape[:2]
    # argsort of uniform keys = one random permutation per replicate, vectorised
    idx = np.argsort(rng.random((reps, total)), axis=1)[:, :n]
    return take(batch, idx)
