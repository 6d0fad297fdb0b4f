"""verify: keep the samples a (noisy) verifier accepts (Feng et al. 2024).

The verifier scores each candidate with the family's oracle plus N(0, noise²) noise and accepts it
when that score is >= `threshold`, or, with a keep fraction, >= the n_s-th best noisy score of a first
draw of ⌈n_s / keep⌉ candidates (the replicate's threshold from then on); each decision is then
flipped with probability `flip` (flip = 0.5: decisions independent of the sample, i.e. no verifier).
The loop gets the first n_s accepted candidates in draw order, which are i.i.d. draws of the model
restricted to the accepted region. More candidates are drawn while a replicate has fewer than n_s
accepted, up to ⌈cap · n_s⌉ per replicate; a replicate that hits the cap is filled with its
best-scored rejected candidates (the threshold the budget allowed) and records cap_hit = 1.
"""

from __future__ import annotations

import math

import numpy as np

from madray.batch import Batch, concat, take
from madray.config import Curate
from madray.curate.base import Curator, Draw, curation_metrics
from madray.models.base import Metrics


def _decide(draw: Draw, noisy: np.ndarray, threshold: np.ndarray | float, flip: float) -> np.ndarray:
    flipped = draw.curate_rng.random(noisy.shape) < flip
    return (noisy >= threshold) ^ flipped


def _keep_order(accept: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """Per replicate: accepted candidates in draw order, then rejected ones from the best noisy score down."""
    total = accept.shape[1]
    position = np.broadcast_to(np.arange(total, dtype=float), accept.shape)
    rank = np.argsort(np.argsort(-noisy, axis=1, kind="stable"), axis=1, kind="stable")
    return np.argsort(np.where(accept, position, total + rank), axis=1, kind="stable")


class Verify(Curator):
    kind = "verify"
    needs = ("oracle_score",)

    @classmethod
    def curate(cls, spec: Curate, draw: Draw, n: int) -> tuple[Batch, Metrics]:
        budget = math.ceil(spec.cap * n)
        batch = draw.candidates(min(budget, math.ceil(n / spec.keep)))
        scores = draw.family.oracle_score(batch)
        noisy = draw.noisy(scores, spec.noise)
        threshold = spec.threshold if spec.keep == 1.0 else np.sort(noisy, axis=1)[:, -n, None]
        accept = _decide(draw, noisy, threshold, spec.flip)
        parts = [(batch, scores, noisy, accept)]
        drawn = accept.shape[1]
        while drawn < budget and accept.sum(axis=1).min() < n:
            batch, scores, noisy, accept = cls._more(spec, draw, n, budget, drawn, threshold, accept)
            parts.append((batch, scores, noisy, accept))
            drawn += accept.shape[1]
            accept = np.concatenate([p[3] for p in parts], axis=1)
        return cls._kept(parts, n)

    @classmethod
    def _more(cls, spec, draw, n, budget, drawn, threshold, accept):
        """The next round of candidates, sized from the slowest replicate's acceptance so far."""
        count = accept.sum(axis=1).min()
        rate = max(count / drawn, 1.0 / spec.cap)
        batch = draw.candidates(min(budget - drawn, math.ceil((n - count) / rate)))
        scores = draw.family.oracle_score(batch)
        noisy = draw.noisy(scores, spec.noise)
        return batch, scores, noisy, _decide(draw, noisy, threshold, spec.flip)

    @staticmethod
    def _kept(parts, n: int) -> tuple[Batch, Metrics]:
        batch = concat([p[0] for p in parts])
        scores, noisy, accept = (np.concatenate([p[i] for p in parts], axis=1) for i in (1, 2, 3))
        idx = _keep_order(accept, noisy)[:, :n]
        metrics = curation_metrics(
            len(scores),
            accept_rate=accept.mean(axis=1),
            oracle_all=scores.mean(axis=1),
            oracle_kept=np.take_along_axis(scores, idx, axis=1).mean(axis=1),
            cap_hit=(accept.sum(axis=1) < n).astype(float),
        )
        return take(batch, idx), metrics
