"""select: one of K candidates per kept sample, chosen by a Bradley–Terry (Luce) model of the reward
(Ferbach et al. 2024).

Each of the n_s slots gets K fresh candidates x_1..x_K; with reward r = the family's oracle score plus
N(0, noise²) noise, the curator picks x_k with probability exp(β r_k) / Σ_j exp(β r_j) (the K-way
Bradley–Terry choice; β = inf is best of K, β = 0 a uniform pick, i.e. no curation). Sampled exactly
with the Gumbel-max trick: argmax_k β r_k + G_k with G_k i.i.d. standard Gumbel.
"""

from __future__ import annotations

import math

import numpy as np

from madray.batch import Batch, take
from madray.config import Curate
from madray.curate.base import Curator, Draw, curation_metrics
from madray.models.base import Metrics


def luce_choice(rewards: np.ndarray, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Index along the last axis drawn with P(k) ∝ exp(β · rewards_k) (β = inf: the argmax)."""
    gumbel = rng.gumbel(size=rewards.shape)
    return np.argmax(rewards if math.isinf(beta) else beta * rewards + gumbel, axis=-1)


class Select(Curator):
    kind = "select"
    needs = ("oracle_score",)

    @classmethod
    def curate(cls, spec: Curate, draw: Draw, n: int) -> tuple[Batch, Metrics]:
        k = spec.candidates
        batch = draw.candidates(n * k)  # slot j's candidates are samples j·K .. j·K + K − 1
        scores = draw.family.oracle_score(batch)
        rewards = draw.noisy(scores, spec.noise).reshape(len(scores), n, k)
        idx = np.arange(n) * k + luce_choice(rewards, spec.beta, draw.curate_rng)
        metrics = curation_metrics(
            len(scores),
            accept_rate=1.0 / k,
            oracle_all=scores.mean(axis=1),
            oracle_kept=np.take_along_axis(scores, idx, axis=1).mean(axis=1),
        )
        return take(batch, idx), metrics
