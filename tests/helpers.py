"""Small shared helpers for the tests."""

import dataclasses

import numpy as np

from madray.spec import parse_sweep


def trial_config(**overrides):
    """A single validated TrialConfig from sweep-style keys."""
    spec = {"name": "t", "family": "gaussian", "loop": "fully_synthetic", **overrides}
    return parse_sweep(spec).trials[0]


def column(rows, metric, generations, replicates):
    """Rows -> array (generations, replicates) of one metric."""
    out = np.full((generations, replicates), np.nan)
    for r in rows:
        out[r["generation"] - 1, r["replicate"]] = r[metric]
    return out


def replace(cfg, **kw):
    return dataclasses.replace(cfg, **kw)
