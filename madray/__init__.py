"""madray: self-consuming generative-model loops as parallel sweeps on Ray."""

__version__ = "0.1.0"

# The public contract of a model family (docs/families.md): light, no torch, no Ray.
from madray.batch import Batch  # noqa: E402
from madray.models.base import Family, Metrics, NoParams, State  # noqa: E402


def load_results(path):  # noqa: D401 - thin re-export that keeps `import madray` light
    """Load a madray results directory (local path or URI) as a pandas DataFrame."""
    from madray.results.store import load_results as _load

    return _load(path)


def load_boundary(path):
    """The boundary table of a `madray search` results directory (None if the folder holds no search)."""
    from madray.results.store import load_boundary as _load

    return _load(path)


__all__ = ["Batch", "Family", "Metrics", "NoParams", "State", "load_results", "load_boundary", "__version__"]
