"""Accumulate-subsample loop: accumulate, then draw n_ini samples without replacement from the pool.

The training set keeps generation 1's size (n_ini), so only the mix changes.
"""

from madray.batch import subsample
from madray.loops.accumulate import Accumulate
from madray.loops.base import LoopData


class AccumulateSubsample(Accumulate):
    name = "accumulate_subsample"

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_ini

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return subsample(super().build(cfg, t, data), cfg.n_ini, data.rng)
