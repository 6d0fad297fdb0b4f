"""Families whose real data is a finite pool (the bundled MNIST digits): say when "fresh" data is resampled data.

A fresh-data loop is meant to see new real samples every generation. Drawing from a pool of N images,
a sweep whose trial draws more than N real images in all (n_ini + (G − 1)·fresh draws per generation)
sees some of them again: on the bundled 4,000-image pool with n_ini = 4,000, generation 1 has seen
them all, and every later "fresh" sample is resampled fixed data.
"""

from __future__ import annotations

import warnings

from madray.config import TrialConfig
from madray.loops import loop_class


def fresh_real_total(cfg: TrialConfig) -> int:
    """Real samples a trial draws over all its generations."""
    return cfg.n_ini + (cfg.generations - 1) * loop_class(cfg.loop).fresh_draws(cfg)


def warn_if_pool_resampled(cfg: TrialConfig, pool: int) -> str | None:
    """Warn (and return the message) when the trial draws more real samples than the pool holds (one warning per
    distinct message: trials with the same numbers share it)."""
    total = fresh_real_total(cfg)
    if total <= pool or loop_class(cfg.loop).fresh_draws(cfg) == 0:
        return None
    message = (f"loop {cfg.loop!r} draws {total} real images over {cfg.generations} generations "
               f"(n_ini = {cfg.n_ini} + {cfg.generations - 1} × {loop_class(cfg.loop).fresh_draws(cfg)}) from a pool of "
               f"{pool}: its 'fresh' images are resampled ones; set params.{cfg.family}.path to full MNIST's IDX files "
               "(60,000 training images) for new real data every generation")
    warnings.warn(message, stacklevel=2)
    return message
