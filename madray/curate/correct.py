"""correct: move every sample towards the truth by a strength γ ∈ [0, 1] (Gillman et al. 2024).

The family's `correct(batch, state, γ)` says how (for the Gaussian, the displacement interpolation
x + γ (T(x) − x) along the optimal-transport map T from the fitted to the true distribution; see
each family's docstring). The samples are the very ones an uncurated loop would draw (same stream),
so γ = 0 leaves every row unchanged. Metrics: the oracle score before (oracle_all) and after
(oracle_kept) the correction when the family has an oracle, NaN otherwise.
"""

from __future__ import annotations

from madray.batch import Batch
from madray.config import Curate
from madray.curate.base import Curator, Draw, curation_metrics
from madray.models.base import Metrics


class Correct(Curator):
    kind = "correct"
    needs = ("correct",)

    @classmethod
    def curate(cls, spec: Curate, draw: Draw, n: int) -> tuple[Batch, Metrics]:
        batch = draw.candidates(n)
        corrected = draw.family.correct(batch, draw.state, spec.gamma)
        replicates = draw.family.replicates
        if not draw.family.provides("oracle_score"):
            return corrected, curation_metrics(replicates)
        before, after = (draw.family.oracle_score(b).mean(axis=1) for b in (batch, corrected))
        return corrected, curation_metrics(replicates, oracle_all=before, oracle_kept=after)
