"""Feature-space metrics: exact k-NN precision/recall/density/coverage (`knn`), Fréchet distance
(`frechet`) and Wasserstein distances (`wasserstein`), registered by name in `registry`.
Convention: generated first, real second.

Names are re-exported lazily so that `import madray.metrics.frechet` does not pull in FAISS or POT.
"""

from importlib import import_module

_EXPORTS = {
    "PRECISION": "knn",
    "RECALL": "knn",
    "DENSITY": "knn",
    "COVERAGE": "knn",
    "ReferenceSet": "knn",
    "knn_radii": "knn",
    "prdc": "knn",
    "reference_scores": "scores",
    "METRICS": "registry",
    "Metric": "registry",
    "frechet_distance": "frechet",
    "frechet_distance_features": "frechet",
    "gaussian_stats": "frechet",
    "w2_gaussians": "wasserstein",
    "wasserstein_samples": "wasserstein",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'madray.metrics' has no attribute {name!r}")
    return getattr(import_module(f"madray.metrics.{_EXPORTS[name]}"), name)
