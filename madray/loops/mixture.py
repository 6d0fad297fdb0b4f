"""Real/synthetic mixture (MAD App. I, Fig. 34): a fraction p fresh real, 1-p synthetic of t-1, total n_ini.

Every generation trains on n = n_ini samples, like generation 1; n_r and n_s are
not used (grid over n_ini to vary the total size n).
"""

from madray.batch import concat
from madray.loops.base import Loop, LoopData


def n_real(cfg) -> int:
    return int(round(cfg.p * cfg.n_ini))


class Mixture(Loop):
    name = "mixture"
    uses = ("p",)  # and n_ini, which every trial reads

    no_ratio = "p·n_ini rounds to 0 real samples"

    @classmethod
    def real_per_generation(cls, cfg):
        return n_real(cfg) or None

    @classmethod
    def n_synthetic(cls, cfg):
        return cfg.n_ini - n_real(cfg)

    @classmethod
    def train_size(cls, cfg, t):
        return cfg.n_ini

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([data.fresh_real(n_real(cfg)), data.synthetic[-1]])
