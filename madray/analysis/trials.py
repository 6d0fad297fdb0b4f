"""Rebuild a trial's config from its result rows, so any grid point can be recomputed.

Every random draw is seeded from (seed, generation, stream) and the rows carry every knob
that shapes a draw (the replicate count included), so re-running the rebuilt config
reproduces the recorded metrics exactly; plots use it to draw what the metrics summarise
(e.g. the GMM's samples per generation).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from madray.config import TrialConfig
from madray.trial import CONFIG_COLUMNS


def _plain(value):
    return value.item() if hasattr(value, "item") else value  # numpy scalars -> Python, as the config wants


def trial_config(df: pd.DataFrame, trial_id: str) -> TrialConfig:
    """The validated TrialConfig of `trial_id` from its rows in a results DataFrame."""
    from madray.models import family_class

    rows = df[df["trial_id"] == trial_id]
    if rows.empty:
        known = ", ".join(sorted(df["trial_id"].unique())[:10])
        raise ValueError(f"trial_id = {trial_id!r} is not in these results; some that are: {known}")
    first = rows.iloc[0]
    knobs = {k: _plain(first[k]) for k in CONFIG_COLUMNS}
    fields = [f.name for f in dataclasses.fields(family_class(knobs["family"]).Params)]
    params = {name: _plain(first[f"param_{name}"]) for name in fields if f"param_{name}" in rows}
    return TrialConfig.from_dict({**knobs, "params": params})
