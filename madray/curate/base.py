"""What a curator is: a policy that turns a generation's model into the n_s samples the loop keeps.

A curator sees the fitted model only through `Draw` (candidates from the model, seeded from the
SYNTHETIC stream, and a CURATE-stream generator for its own noise) and the family's oracles:
`oracle_score(batch) -> (R, n)` (higher = closer to the truth) and `correct(batch, state, γ)`.
It returns the kept batch and its curation metrics, one value per replicate (NaN where a metric
does not apply to the mechanism).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from madray.batch import Batch
from madray.config import Curate
from madray.models.base import Family, Metrics, State

# Per replicate and generation: fraction of the candidates drawn that enter the loop; mean true oracle
# score of every candidate drawn and of the kept samples; 1 where verify's candidate budget ran out.
CURATION_METRICS: tuple[str, ...] = ("accept_rate", "oracle_all", "oracle_kept", "cap_hit")


@dataclass
class Draw:
    """A generation's fitted model, ready to be sampled: what a curator works with."""

    family: Family
    state: State
    lam: float
    sample_rng: np.random.Generator  # the SYNTHETIC stream: candidates
    curate_rng: np.random.Generator  # the CURATE stream: score noise, flips, choices

    def candidates(self, m: int) -> Batch:
        """m more samples per replicate (successive calls continue the same stream)."""
        return self.family.sample(self.state, m, self.lam, self.sample_rng)

    def noisy(self, scores: np.ndarray, noise: float) -> np.ndarray:
        """The verifier's view of the oracle: scores plus N(0, noise²) (drawn even at noise 0, so
        that the stream's later draws do not depend on the noise level)."""
        return scores + noise * self.curate_rng.standard_normal(scores.shape)


def curation_metrics(replicates: int, **values: np.ndarray | float) -> Metrics:
    """Every CURATION_METRICS entry, one value per replicate; those not given are NaN."""
    return {m: np.broadcast_to(np.asarray(values.get(m, np.nan), dtype=float), (replicates,)).copy()
            for m in CURATION_METRICS}


class Curator:
    """Base class; subclasses set `kind`, `needs` and implement `curate`."""

    kind: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()  # Family methods the mechanism calls

    @classmethod
    def curate(cls, spec: Curate, draw: Draw, n: int) -> tuple[Batch, Metrics]:
        raise NotImplementedError
