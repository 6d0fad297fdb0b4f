"""What a loop is: a policy that builds generation t's training set.

A loop sees the real-data source and the history of synthetic samples; it knows
nothing about model families. Generation 1 always trains on `n_ini` real samples
(done by the trial, not the loop); `build` is called for generations t >= 2.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

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
    real_of: Callable[[int, int], Batch] | None = None  # (generation j, n): j's fresh real draw, redrawn from its seed


class Loop:
    """Base class; subclasses set `name`, `keep` and implement `build`."""

    name: ClassVar[str]
    keep: ClassVar[int | None] = 1  # synthetic generations to remember; None = all of them
    # The optional knobs (madray.config.OPTIONAL_KNOBS: n_r, n_s, K, p) this loop reads. The others are
    # set to their defaults in its trials (madray.spec.normalise), which merges grid points that differ
    # only there; tests/test_distinct.py checks that changing an undeclared knob changes no number.
    uses: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def memory(cls, cfg: TrialConfig) -> int | None:
        return cls.keep

    @classmethod
    def models_kept(cls, cfg: TrialConfig) -> int:
        """Fitted models (the newest and earlier ones) that the synthetic samples are drawn from."""
        return 1

    @classmethod
    def mix(cls, cfg: TrialConfig, draws: list[Batch], rng: np.random.Generator) -> Batch:
        """The synthetic batch to remember, from `n_synthetic` samples of each kept model (newest first)."""
        return draws[0]

    @classmethod
    def n_synthetic(cls, cfg: TrialConfig) -> int:
        """Synthetic samples to draw from each generation's model."""
        return cfg.n_s

    @classmethod
    def real_per_generation(cls, cfg: TrialConfig) -> int | None:
        """Real samples generation t >= 2 trains on that it did not train on before: the n_r of
        n_e/n_r (MAD Eq. 3). None where the loop has no such number (no real data after
        generation 1, or a real pool fixed at generation 1); `no_ratio` says why."""
        return None

    no_ratio: ClassVar[str] = "no real samples per generation"  # why real_per_generation is None

    @classmethod
    def fresh_draws(cls, cfg: TrialConfig) -> int:
        """New real samples drawn for each generation t >= 2 (a finite real pool runs out after n_ini + (G−1)·this)."""
        return cls.real_per_generation(cfg) or 0

    @classmethod
    def train_size(cls, cfg: TrialConfig, t: int) -> int:
        """Training-set size of generation t >= 2 (checked against the family's minimum)."""
        raise NotImplementedError

    needs_synthetic: ClassVar[bool] = False  # n_s >= 1 required (a loop that trains on synthetic samples)

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
        """Loop-specific checks; raise ConfigError. Subclasses extend it with super().validate(cfg)."""
        if cls.needs_synthetic:
            require_synthetic(cfg, cls.name)

    @classmethod
    def build(cls, cfg: TrialConfig, t: int, data: LoopData) -> Batch:
        raise NotImplementedError


def require_real(cfg: TrialConfig, loop: str) -> None:
    # with n_r = 0 these loops would silently be the fully synthetic loop (same numbers)
    require(cfg.n_r >= 1, "n_r", cfg.n_r,
            f"loop {loop!r} trains on n_r real samples per generation; set n_r >= 1 "
            "(n_r = 0 is loop 'fully_synthetic')")


def require_synthetic(cfg: TrialConfig, loop: str) -> None:
    require(cfg.n_s >= 1, "n_s", cfg.n_s, f"loop {loop!r} trains on synthetic samples; set n_s >= 1")


class SyntheticLoop(Loop):
    """A loop whose training sets hold n_s synthetic samples per generation: it reads n_s, needs n_s >= 1."""

    uses = ("n_s",)
    needs_synthetic = True
