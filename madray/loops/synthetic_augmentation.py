"""Synthetic augmentation loop (MAD): the same n_r real samples every generation + n_s synthetic of t-1.

The fixed real set is the first n_r of generation 1's n_ini real samples, so the
model never sees real data that generation 1 did not.
"""

from madray.batch import concat, head
from madray.config import require
from madray.loops.base import Loop, LoopData, require_synthetic


class SyntheticAugmentation(Loop):
    name = "synthetic_augmentation"
    uses = ("n_r", "n_s")

    @classmethod
    def validate(cls, cfg):
        require_synthetic(cfg, cls.name)
        require(cfg.n_r <= cfg.n_ini, "n_r", cfg.n_r,
                f"loop {cls.name!r} reuses n_r of the n_ini = {cfg.n_ini} real samples; set n_r <= n_ini")

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_r + cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([head(data.real_initial, cfg.n_r), data.synthetic[-1]])
