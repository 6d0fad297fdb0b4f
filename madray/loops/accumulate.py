"""Accumulate loop (Gerstgrasser et al.): the n_ini real samples + every earlier generation's n_s samples."""

from madray.batch import concat
from madray.loops.base import LoopData, SyntheticLoop


class Accumulate(SyntheticLoop):  # reads n_s only (SyntheticLoop.uses), and n_ini like every trial
    name = "accumulate"
    keep = None
    no_ratio = "real data fixed at generation 1's n_ini"

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_ini + (t - 1) * cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([data.real_initial, *data.synthetic])
