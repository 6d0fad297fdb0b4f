"""Score several generated feature sets against one real ReferenceSet (torch-fidelity's convention:
features_1 = generated, features_2 = real, here the reference).

A family asks only for the metrics its sweep wants; which computation gives which metric is the
registry's (registry.py).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from madray.metrics.knn import ReferenceSet
from madray.metrics.registry import reference_metrics, score

PRDC = reference_metrics(frechet_as=None)


def reference_scores(reference: ReferenceSet, generated: list[np.ndarray], frechet_name: str | None,
                     wanted: Collection[str]) -> dict[str, np.ndarray]:
    """Per generated set: the wanted reference metrics, the Fréchet distance named `frechet_name`
    (None: not computed)."""
    wanted = [w for w in wanted if frechet_name is not None or w != "frechet"]
    rows = [score(reference, features, wanted, frechet_name) for features in generated]
    return {k: np.asarray([row[k] for row in rows]) for k in rows[0]} if rows else {}
