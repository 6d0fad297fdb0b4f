"""K-previous-generation memory (MAD App. I, Experiment 2): n_r fresh real + n_s synthetic, each from a random one of the last K models.

MAD App. I, Experiment 2: "we sample randomly from K previous models (G^τ), τ = t-1-K … t-1.
Here n_r = 10^3, n_s = 10^4, and λ = 1." Read as: generation t's synthetic part is n_s samples
in total, each drawn afresh from a model chosen uniformly at random among the last K
generations (before generation K+1, among the t-1 that exist). K = 1 is the fresh-data loop
exactly (same training sets, same numbers); Fig. 33 reports that n_e/n_r grows with K,
sublinearly.

Implementation: the trial keeps the last K fitted models (`models_kept` = K). After fitting
generation t it draws n_s samples from each of them and `mix` keeps, for sample i, sample i of
a model picked uniformly at random for it: the n_s kept samples are i.i.d. draws from the
uniform mixture of the K models, which is the paper's "sample randomly from K previous models".
Storing n_s samples per generation and picking from the stored ones instead would hand the
same synthetic point to several consecutive generations; that correlation lowers n_e (at
n_r = 50, n_s = 500, d = 5, K = 4 it gave n_e/n_r ≈ 2.7 where fresh draws give ≈ 4). Cost:
K·n_s samples drawn per generation, and K fitted models in memory and in each checkpoint.
"""

import numpy as np

from madray.batch import Batch
from madray.loops.fresh_data import FreshData


def pick_per_sample(draws: list[Batch], rng: np.random.Generator) -> Batch:
    """Sample i of the result = sample i of draws[g], g uniform per (replicate, sample)."""
    if len(draws) == 1:
        return draws[0]
    reps, n = next(iter(draws[0].values())).shape[:2]
    which = rng.integers(len(draws), size=(reps, n))
    out = {}
    for key in draws[0]:
        stacked = np.stack([d[key] for d in draws])  # (models, R, n, ...)
        index = which.reshape((1, reps, n) + (1,) * (stacked.ndim - 3))
        out[key] = np.take_along_axis(stacked, index, axis=0)[0]
    return out


class Memory(FreshData):
    name = "memory"
    uses = ("n_r", "n_s", "K")
    needs_synthetic = True

    @classmethod
    def models_kept(cls, cfg):
        return cfg.K

    @classmethod
    def mix(cls, cfg, draws, rng):
        return pick_per_sample(draws, rng)
