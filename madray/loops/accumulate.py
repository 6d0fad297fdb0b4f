"""Accumulate loop (Gerstgrasser et al.): the n_ini real samples + every earlier generation's n_s samples."""

from madray.batch import concat
from madray.loops.base import Loop, LoopData, require_synthetic


class Accumulate(Loop):
    name = "accumulate"
    keep = None
    uses = ("n_s",)

    @classmethod
    def validate(cls, cfg):
        require_synthetic(cfg, cls.name)

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_ini + (t - 1) * cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([data.real_initial, *data.synthetic])
