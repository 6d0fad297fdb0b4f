"""Boundary search: find where a statistic crosses a threshold along one knob, per grid point, on Ray Tune."""

from madray.search.policy import ADMISSIBLE, FOUND, INADMISSIBLE, NOT_CONVERGED, BoundarySearch, Estimate
from madray.search.runner import SearchOutcome, run_search
from madray.search.spec import SearchSpec, SearchSweep, load_search, parse_search

__all__ = [
    "ADMISSIBLE", "FOUND", "INADMISSIBLE", "NOT_CONVERGED", "BoundarySearch", "Estimate",
    "SearchOutcome", "run_search", "SearchSpec", "SearchSweep", "load_search", "parse_search",
]
