"""K-previous-generation memory (MAD App. I, Experiment 2): n_r fresh real + n_s synthetic, each from a random one of the last K models.

MAD App. I, Experiment 2: "we sample randomly from K previous models (G^τ), τ = t-1-K … t-1.
Here n_r = 10^3, n_s = 10^4, and λ = 1." Read as: generation t's synthetic part is n_s samples
in total, each drawn from a model chosen uniformly at random among the last K generations
(before generation K+1, among the t-1 that exist). K = 1 is the fresh-data loop exactly (same
training sets, same numbers); Fig. 33 reports that n_e/n_r grows with K, sublinearly.

Implementation: the trial keeps n_s samples of each of the last K generations (`memory` = K);
synthetic sample i of the training set is sample i of a generation picked uniformly at random
for it. Samples of different generations are independent and each index is used once, so the
n_s picked samples are i.i.d. draws from the uniform mixture of the K models, which is the
paper's "sample randomly from K previous models". The pick is seeded from the loop's rng.
"""

import numpy as np

from madray.batch import concat
from madray.loops.base import LoopData
from madray.loops.fresh_data import FreshData


def pick_per_sample(generations: list, rng: np.random.Generator) -> dict:
    """Sample i of the result = sample i of generations[g], g uniform per (replicate, sample)."""
    if len(generations) == 1:
        return generations[0]
    first = generations[0]
    reps, n = next(iter(first.values())).shape[:2]
    which = rng.integers(len(generations), size=(reps, n))
    out = {}
    for key in first:
        stacked = np.stack([g[key] for g in generations])  # (K, R, n, ...)
        out[key] = np.take_along_axis(stacked, which.reshape((1, reps, n) + (1,) * (stacked.ndim - 3)), axis=0)[0]
    return out


class Memory(FreshData):
    name = "memory"
    uses = ("n_r", "n_s", "K")

    @classmethod
    def memory(cls, cfg):
        return cfg.K

    @classmethod
    def build(cls, cfg, t, data: LoopData):
        return concat([data.fresh_real(cfg.n_r), pick_per_sample(list(data.synthetic), data.rng)])
