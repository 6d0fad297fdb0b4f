"""Every random draw is seeded from (trial seed, generation, stream).

A generation can therefore be recomputed from the config alone, and resuming a
trial from a checkpoint needs no saved RNG state.
"""

from __future__ import annotations

import enum

import numpy as np


class Stream(enum.IntEnum):
    REAL_INITIAL = 0
    REAL_FRESH = 1
    FIT = 2
    SYNTHETIC = 3
    EVALUATE = 4
    SUBSAMPLE = 5
    HELD_OUT = 6  # fixed per trial (generation 0)
    TRUTH = 7  # fixed per trial: ground-truth parameters a family draws
    ARTIFACTS = 8
    CURATE = 9  # verifier noise and flips, choice among candidates (madray/curate)


def rng(seed: int, generation: int, stream: Stream) -> np.random.Generator:
    """A generator that depends only on (seed, generation, stream)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(generation), int(stream)]))
