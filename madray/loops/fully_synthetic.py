"""Fully synthetic loop (MAD) = "replace" (Gerstgrasser et al.): train only on n_s samples of t-1."""

from madray.loops.base import Loop, LoopData


class FullySynthetic(Loop):
    name = "fully_synthetic"
    no_ratio = "no real data after generation 1"
    needs_synthetic = True

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return data.synthetic[-1]
