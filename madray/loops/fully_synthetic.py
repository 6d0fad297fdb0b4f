"""Fully synthetic loop (MAD) = "replace" (Gerstgrasser et al.): train only on n_s samples of t-1."""

from madray.loops.base import LoopData, SyntheticLoop


class FullySynthetic(SyntheticLoop):  # reads n_s only (SyntheticLoop.uses)
    name = "fully_synthetic"
    no_ratio = "no real data after generation 1"

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return data.synthetic[-1]
