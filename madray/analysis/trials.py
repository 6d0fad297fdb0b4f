"""Rebuild a trial's config without the simulation engine, so any grid point can be recomputed.

Every random draw is seeded from (seed, generation, stream) and the resolved `sweep.yaml`
beside the results holds every trial's full config, so re-running a rebuilt config reproduces
the recorded metrics exactly; plots use it to draw what the metrics summarise (e.g. the GMM's
samples per generation). Without the folder, the config is read back from the result rows,
which carry every knob that shapes a draw (the replicate count included).
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import yaml

from madray.config import CONFIG_COLUMNS, TrialConfig, knobs_from_columns
from madray.errors import DataError
from madray.models import family_class
from madray.results.folder import SweepFolder
from madray.spec import trial_from_dict


def _plain(value):
    if isinstance(value, str) and value.startswith("["):  # a list parameter's JSON text (madray.trial.config_columns)
        return json.loads(value)
    return value.item() if hasattr(value, "item") else value  # numpy scalars -> Python, as the config wants


def sweep_trials(path: str) -> dict[str, TrialConfig]:
    """trial_id -> validated TrialConfig, from the `sweep.yaml` madray wrote beside the results."""
    folder = SweepFolder(path)
    text = folder.sweep_text()
    if text is None:
        raise DataError(f"{folder.uri} has no sweep.yaml: is it a madray results folder?")
    doc = yaml.safe_load(text)
    return {t["trial_id"]: trial_from_dict(t) for t in doc["trials"]}


def trial_config(df: pd.DataFrame, trial_id: str) -> TrialConfig:
    """The validated TrialConfig of `trial_id` from its rows in a results DataFrame."""
    rows = df[df["trial_id"] == trial_id]
    if rows.empty:
        known = ", ".join(sorted(df["trial_id"].unique())[:10])
        raise DataError(f"trial_id = {trial_id!r} is not in these results; some that are: {known}")
    first = rows.iloc[0]
    knobs = knobs_from_columns({k: _plain(first[k]) for k in CONFIG_COLUMNS if k in rows})
    fields = [f.name for f in dataclasses.fields(family_class(knobs["family"]).Params)]
    params = {name: _plain(first[f"param_{name}"]) for name in fields if f"param_{name}" in rows}
    return trial_from_dict({**knobs, "params": params})
