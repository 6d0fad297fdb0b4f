"""Loop registry: adding a loop is one file in this folder plus one line here."""

from __future__ import annotations

from madray.config import ConfigError, TrialConfig, require
from madray.errors import brief
from madray.loops.accumulate import Accumulate
from madray.loops.accumulate_real import AccumulateReal
from madray.loops.accumulate_subsample import AccumulateSubsample
from madray.loops.base import Loop, LoopData
from madray.loops.fresh_data import FreshData
from madray.loops.fully_synthetic import FullySynthetic
from madray.loops.memory import Memory
from madray.loops.mixture import Mixture
from madray.loops.synthetic_augmentation import SyntheticAugmentation

LOOPS: dict[str, type[Loop]] = {
    "fully_synthetic": FullySynthetic,
    "replace": FullySynthetic,  # Gerstgrasser et al.'s name for the same loop
    "synthetic_augmentation": SyntheticAugmentation,
    "fresh_data": FreshData,
    "accumulate": Accumulate,
    "accumulate_subsample": AccumulateSubsample,
    "accumulate_real": AccumulateReal,
    "memory": Memory,
    "mixture": Mixture,
}


def loop_class(name: str) -> type[Loop]:
    if name not in LOOPS:
        raise ConfigError(f"loop = {brief(name)} is not a known loop; known: {', '.join(LOOPS)}")
    return LOOPS[name]


def validate_loop(cfg: TrialConfig, family) -> None:
    """Loop checks plus the family's minimum training-set size, in time independent of `generations`."""
    loop = loop_class(cfg.loop)
    loop.validate(cfg)
    minimum = family.min_train_size(cfg.params)
    require(cfg.n_ini >= minimum, "n_ini", cfg.n_ini,
            f"family {cfg.family!r} needs at least {minimum} training samples")
    smallest = loop.smallest_train_set(cfg)
    if smallest is not None and smallest[1] < minimum:
        t, size = smallest
        raise ConfigError(
            f"loop {cfg.loop!r} gives generation {t} a training set of {size} samples "
            f"(n_r = {cfg.n_r}, n_s = {cfg.n_s}, K = {cfg.K}, p = {cfg.p}); "
            f"family {cfg.family!r} needs at least {minimum}"
        )


__all__ = ["LOOPS", "Loop", "LoopData", "loop_class", "validate_loop"]
