"""Score several generated feature sets against one real ReferenceSet (torch-fidelity's convention:
features_1 = generated, features_2 = real, here the reference).

A family asks only for the metrics its sweep wants: the Fréchet distance and the k-NN
metrics are computed only when one of theirs is asked for (precision, recall, density and
coverage share their searches, so they come together).
"""

from __future__ import annotations

from typing import Collection

import numpy as np

from madray.metrics.knn import COVERAGE, DENSITY, PRECISION, RECALL, ReferenceSet

PRDC = (PRECISION, RECALL, DENSITY, COVERAGE)


def reference_scores(reference: ReferenceSet, generated: list[np.ndarray], frechet_name: str | None,
                     wanted: Collection[str]) -> dict[str, np.ndarray]:
    """Per generated set: the Fréchet distance (as `frechet_name`; None: not computed) and P/R/D/C,
    those of them in `wanted`."""
    rows: list[dict[str, float]] = [{} for _ in generated]
    for row, features in zip(rows, generated):
        if frechet_name is not None and frechet_name in wanted:
            row[frechet_name] = reference.frechet(features)
        if any(m in wanted for m in PRDC):
            row.update(reference.prdc(features))
    return {k: np.asarray([row[k] for row in rows]) for k in rows[0]} if rows else {}
