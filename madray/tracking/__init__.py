"""Experiment trackers (W&B, MLflow, TensorBoard): one tracker run per trial, every generation logged
at step = generation from the rows madray writes.

Adding a tracker is one file in this folder (a `Tracker` subclass with its `Config`) plus one line
here. The sweep layer calls `prepare_tracking` on the driver and `open_trackers` in each trial.
"""

from __future__ import annotations

from typing import Any

from madray.config import TrialConfig
from madray.tracking import session
from madray.tracking.base import RunInfo, Tracker
from madray.tracking.mlflow_tracker import MlflowTracker
from madray.tracking.spec import TRACKING, TrackingSpec, add_trackers
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


def prepare_tracking(root: str, tracking: TrackingSpec) -> None:
    """Driver side, once the sweep folder is ready (see madray/tracking/session.py)."""
    session.prepare_tracking(root, tracking, TRACKERS)


def open_trackers(root: str, cfg: TrialConfig, generation: int) -> session.TrialTracking:
    """Trial side, before its first remaining generation (see madray/tracking/session.py)."""
    return session.open_trackers(root, cfg, generation, TRACKERS)


check_local = session.check_local

__all__ = ["TRACKERS", "TRACKING", "RunInfo", "Tracker", "TrackingSpec", "add_trackers", "check_local",
           "open_trackers", "parse_tracking", "prepare_tracking"]
