"""Experiment trackers (W&B, MLflow, TensorBoard): one tracker run per trial, every generation logged
at step = generation from the rows madray writes.

Adding a tracker is one file in this folder (a `Tracker` subclass with its `Config`) plus one line
here. Parsing needs only this registry (cheap to import); the sweep layer calls
`madray.tracking.session.prepare_tracking` on the driver and `open_trackers` in each trial.
"""

from __future__ import annotations

from typing import Any

from madray.tracking.base import RunInfo, Tracker
from madray.tracking.mlflow_tracker import MlflowTracker
from madray.tracking.spec import TRACKING, TrackingSpec, add_trackers, check_local
from madray.tracking.spec import parse_tracking as _parse
from madray.tracking.tensorboard_tracker import TensorboardTracker
from madray.tracking.wandb_tracker import WandbTracker

TRACKERS: dict[str, type[Tracker]] = {
    "wandb": WandbTracker,
    "mlflow": MlflowTracker,
    "tensorboard": TensorboardTracker,
}


def parse_tracking(section: Any, source: str, sweep: str = "", axes: tuple[str, ...] = ()) -> TrackingSpec:
    """Validate a sweep file's `tracking:` section against the registry (see madray/tracking/spec.py)."""
    return _parse(section, TRACKERS, source, sweep, axes)


__all__ = ["TRACKERS", "TRACKING", "RunInfo", "Tracker", "TrackingSpec", "add_trackers", "check_local",
           "parse_tracking"]
