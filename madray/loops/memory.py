"""K-previous-generation memory (MAD App. I): n_r fresh real + n_s synthetic from each of the last K generations.

K = 1 is the fresh data loop. Before generation K+1 only the generations that
exist are used.
"""

from madray.batch import concat
from madray.loops.base import LoopData, SyntheticLoop


class Memory(SyntheticLoop):
    name = "memory"
    uses = ("n_r", "n_s", "K")

    @classmethod
    def memory(cls, cfg):
        return cfg.K

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_r + min(cfg.K, t - 1) * cfg.n_s

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([data.fresh_real(cfg.n_r), *data.synthetic])
