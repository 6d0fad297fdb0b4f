"""Has a generation diverged? Non-finite values in the fitted state or in the metrics.

A diverged trial (an exploding covariance, a NaN loss) is stopped and recorded as
failed; the sweep's other trials go on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def is_finite(value: Any) -> bool:
    """True if no number inside `value` (array, tensor, or dict/list of them) is NaN or infinite."""
    if isinstance(value, dict):
        return all(is_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(is_finite(v) for v in value)
    if type(value).__module__.startswith("torch"):
        import torch

        return not torch.is_tensor(value) or bool(torch.isfinite(value).all())
    arr = np.asarray(value)
    return arr.dtype.kind not in "fc" or bool(np.isfinite(arr).all())


def divergence(state: dict[str, Any], rows: list[dict[str, Any]], metrics: Iterable[str]) -> str | None:
    """Why a generation cannot be continued from, in words; None if it can."""
    bad_state = [key for key, value in state.items() if not is_finite(value)]
    if bad_state:
        return f"non-finite values in the fitted state ({', '.join(bad_state)})"
    metrics = list(metrics)
    bad_rows = [r for r in rows if not all(math.isfinite(r[m]) for m in metrics)]
    if bad_rows:
        names = [m for m in metrics if any(not math.isfinite(r[m]) for r in bad_rows)]
        replicates = ", ".join(str(r["replicate"]) for r in bad_rows)
        return f"non-finite {', '.join(names)} in replicate(s) {replicates} of {len(rows)}"
    return None
