"""Fully synthetic loop (MAD) = "replace" (Gerstgrasser et al.): train only on n_s samples of t-1."""

from madray.loops.base import Loop, LoopData, require_synthetic


class FullySynthetic(Loop):
    name = "fully_synthetic"
    uses = ("n_s",)

    @classmethod
    def validate(cls, cfg):
        require_synthetic(cfg, cls.name)

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return data.synthetic[-1]
