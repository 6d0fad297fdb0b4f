"""Fresh data loop (MAD): n_r new real samples each generation + n_s synthetic of t-1."""

from madray.batch import concat
from madray.config import require
from madray.loops.base import Loop, LoopData


class FreshData(Loop):
    name = "fresh_data"
    uses = ("n_r", "n_s")

    @classmethod
    def validate(cls, cfg):
        require(cfg.n_r + cfg.n_s >= 1, "n_r + n_s", cfg.n_r + cfg.n_s, "must be >= 1")

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_r + cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([data.fresh_real(cfg.n_r), data.synthetic[-1]])
