"""Fresh data loop (MAD): n_r new real samples each generation + n_s synthetic of t-1."""

from madray.batch import concat
from madray.loops.base import Loop, LoopData, require_real


class FreshData(Loop):
    name = "fresh_data"
    uses = ("n_r", "n_s")

    @classmethod
    def validate(cls, cfg):
        super().validate(cfg)
        require_real(cfg, cls.name)

    @classmethod
    def real_per_generation(cls, cfg):
        return cfg.n_r

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_r + cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([data.fresh_real(cfg.n_r), data.synthetic[-1]])
