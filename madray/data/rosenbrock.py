"""The 2D Rosenbrock density of MAD's normalizing-flow experiment.

    p(x) ∝ exp(−x1²/2 − (x2 − x1²)²)

Factorised, p(x1, x2) = N(x1; 0, 1) · N(x2; x1², 1/2): the marginal of x1 is a standard normal
and, given x1, x2 is Gaussian around x1² with variance 1/2 (since (x2 − x1²)² = (x2 − x1²)²/(2·½)).
That gives an exact sampler and the normalising constant Z = √(2π) · √π.
"""

from __future__ import annotations

import math

import numpy as np

LOG_Z = 0.5 * math.log(2 * math.pi) + 0.5 * math.log(math.pi)


def sample_rosenbrock(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Exact draws of shape (*shape, 2): x1 ~ N(0, 1), then x2 | x1 ~ N(x1², 1/2)."""
    x1 = rng.standard_normal(shape)
    x2 = x1**2 + math.sqrt(0.5) * rng.standard_normal(shape)
    return np.stack([x1, x2], axis=-1)


def rosenbrock_log_density(x: np.ndarray) -> np.ndarray:
    """Normalised log p(x) for points x of shape (..., 2)."""
    x1, x2 = x[..., 0], x[..., 1]
    return -0.5 * x1**2 - (x2 - x1**2) ** 2 - LOG_Z
