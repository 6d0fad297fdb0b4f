"""A fixed pool of real samples (MNIST images, documents of a text) that families draw from.

Each call draws n distinct samples per replicate, independently of other calls: a "fresh" real
batch of a later generation may repeat samples of an earlier one once a loop has seen the pool.
"""

from __future__ import annotations

import numpy as np

from madray.config import TrialConfig, require


def draw_indices(pool_size: int, n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """(replicates, n) indices into the pool, distinct within each replicate."""
    return np.stack([rng.choice(pool_size, size=n, replace=False) for _ in range(replicates)])


def require_pool(cfg: TrialConfig, pool_size: int, what: str, pool: str = "a pool of {n}") -> None:
    """The real draws of one generation (n_ini, n_r) fit in the pool (`what`: "real images"; `pool`
    describes the pool, with {n} for its size)."""
    for key in ("n_ini", "n_r"):
        require(getattr(cfg, key) <= pool_size, key, getattr(cfg, key),
                f"{what} are drawn without replacement from {pool.format(n=pool_size)}")
