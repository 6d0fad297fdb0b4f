"""Synthetic augmentation loop (MAD): the same n_r real samples every generation + n_s synthetic of t-1.

The fixed real set is the first n_r of generation 1's n_ini real samples, so the model never
sees real data that generation 1 did not; hence 1 <= n_r <= n_ini. MAD's DDPM experiment
uses the whole real set: "D_r^1 = D_r^t and n_r^1 = n_r^t = 60k" (§4), i.e. n_r = n_ini.
"""

from madray.batch import concat, head
from madray.config import require
from madray.loops.base import Loop, LoopData, require_real, require_synthetic


class SyntheticAugmentation(Loop):
    name = "synthetic_augmentation"
    uses = ("n_r", "n_s")

    @classmethod
    def validate(cls, cfg):
        require_synthetic(cfg, cls.name)
        require_real(cfg, cls.name)
        require(cfg.n_r <= cfg.n_ini, "n_r", cfg.n_r,
                f"loop {cls.name!r} reuses n_r of the n_ini = {cfg.n_ini} real samples; set n_r <= n_ini")

    @classmethod
    def real_per_generation(cls, cfg):
        return cfg.n_r

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_r + cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([head(data.real_initial, cfg.n_r), data.synthetic[-1]])
