"""Synthetic augmentation loop (MAD): the same n_r real samples every generation + n_s synthetic of t-1.

The fixed real set is the first n_r of generation 1's n_ini real samples, so the model never
sees real data that generation 1 did not; hence 1 <= n_r <= n_ini. MAD's DDPM experiment
uses the whole real set: "D_r^1 = D_r^t and n_r^1 = n_r^t = 60k" (§4), i.e. n_r = n_ini.
It is the fresh-data loop with the fresh real samples replaced by that fixed set, so sizes and
the n_e/n_r denominator (n_r) are the fresh-data loop's.
"""

from madray.batch import concat, head
from madray.config import require
from madray.loops.base import LoopData
from madray.loops.fresh_data import FreshData


class SyntheticAugmentation(FreshData):
    name = "synthetic_augmentation"
    needs_synthetic = True

    @classmethod
    def validate(cls, cfg):
        super().validate(cfg)
        require(cfg.n_r <= cfg.n_ini, "n_r", cfg.n_r,
                f"loop {cls.name!r} reuses n_r of the n_ini = {cfg.n_ini} real samples; set n_r <= n_ini")

    @classmethod
    def fresh_draws(cls, cfg):
        return 0  # the fixed set comes from generation 1's real samples

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([head(data.real_initial, cfg.n_r), data.synthetic[-1]])
