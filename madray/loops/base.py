"""What a loop is: a policy that builds generation t's training set.

A loop sees the real-data source and the history of synthetic samples; it knows
nothing about model families. Generation 1 always trains on `n_ini` real samples
(done by the trial, not the loop); `build` is called for generations t >= 2.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from madray.batch import Batch
from madray.config import TrialConfig, require


@dataclass
class LoopData:
    """What a loop may draw on when it builds a training set."""

    real_initial: Batch  # the n_ini real samples of generation 1
    fresh_real: Callable[[int], Batch]  # n new real samples for this generation
    synthetic: deque  # synthetic batches, oldest first; synthetic[-1] is from generation t-1
    rng: np.random.Generator  # for subsampling


class Loop:
    """Base class; subclasses set `name`, `keep` and implement `build`."""

    name: ClassVar[str]
    keep: ClassVar[int | None] = 1  # synthetic generations to remember; None = all of them
    uses: ClassVar[tuple[str, ...]] = ("n_s",)  # knobs the loop reads (documentation + dry-run)

    @classmethod
    def memory(cls, cfg: TrialConfig) -> int | None:
        return cls.keep

    @classmethod
    def n_synthetic(cls, cfg: TrialConfig) -> int:
        """Synthetic samples to draw from each generation's model."""
        return cfg.n_s

    @classmethod
    def train_size(cls, cfg: TrialConfig, t: int) -> int:
        """Training-set size of generation t >= 2 (checked against the family's minimum)."""
        raise NotImplementedError

    @classmethod
    def smallest_train_set(cls, cfg: TrialConfig) -> tuple[int, int] | None:
        """(generation, size) of the smallest training set among generations 2..G; None if G = 1.

        Closed form, so that checking a sweep costs the same for 10 or 10^12 generations: every
        loop's `train_size` is non-decreasing in t (accumulate and memory grow, the others are
        constant), so the minimum is generation 2's. A loop whose training set can shrink must
        override this (tests/test_loops.py checks every registered loop against all t).
        """
        return None if cfg.generations < 2 else (2, cls.train_size(cfg, 2))

    @classmethod
    def largest_train_set(cls, cfg: TrialConfig) -> int:
        """Size of the largest training set of any generation (the last one's, by the same monotonicity)."""
        return cfg.n_ini if cfg.generations < 2 else max(cfg.n_ini, cls.train_size(cfg, cfg.generations))

    @classmethod
    def samples_held(cls, cfg: TrialConfig) -> int:
        """Most samples per replicate a trial holds at once: generation 1's real set, the synthetic
        generations the loop keeps, and the training set built from them (a copy, `concat`)."""
        kept = cfg.generations - 1 if cls.memory(cfg) is None else min(cls.memory(cfg), cfg.generations)
        return cfg.n_ini + kept * cls.n_synthetic(cfg) + cls.largest_train_set(cfg)

    @classmethod
    def validate(cls, cfg: TrialConfig) -> None:
        """Loop-specific checks; raise ConfigError."""

    @classmethod
    def build(cls, cfg: TrialConfig, t: int, data: LoopData) -> Batch:
        raise NotImplementedError


def require_synthetic(cfg: TrialConfig, loop: str) -> None:
    require(cfg.n_s >= 1, "n_s", cfg.n_s, f"loop {loop!r} trains on synthetic samples; set n_s >= 1")
