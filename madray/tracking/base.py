"""What every tracker implements, and what it is given: one tracker run per trial.

A tracker run is opened (or reopened) by `start`, receives each generation once by `log`
(step = generation) and is ended by `close`, with the failure's message if the trial failed.
Trackers import their library inside these methods: a sweep that tracks nothing never imports it.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, ClassVar


@dataclass(frozen=True)
class RunInfo:
    """The trial a tracker run stands for."""

    sweep: str
    trial_id: str  # the run's name
    config: dict[str, Any]  # the trial's full config, plain values (TrialConfig.to_dict)
    tags: dict[str, Any]  # the grid axes' values of this trial
    folder: str  # <sweep folder>/tracking/<tracker>: the tracker's own files, if it keeps any


class Tracker(ABC):
    """One tracker run of one trial. Subclasses: one file each, registered in madray/tracking/__init__.py."""

    package: ClassVar[str]  # the module that must be importable (`pip install madray[<name>]`)
    Config: ClassVar[type]  # the frozen dataclass of its `tracking.<name>:` section
    # True: what `log` sent may still be buffered in the tracker's client when the process dies, so a
    # run reopened without having been closed is sent every generation again (the tracker must keep
    # the first point of a step it already has).
    replays_unclosed: ClassVar[bool] = False

    @classmethod
    def resolve(cls, config: Any, folder: str, sweep: str) -> dict[str, Any]:
        """On the driver, before any trial starts: the settings every trial's run uses (JSON values;
        defaults filled in, relative paths made absolute, shared objects such as an experiment created)."""
        return dict(vars(config))

    def __init__(self, settings: dict[str, Any], run: RunInfo) -> None:
        self.settings, self.run = settings, run

    @abstractmethod
    def start(self, run_id: str | None, first_step: int) -> str:
        """Open a new run (run_id None) or continue `run_id`, whose next step is `first_step`; returns its id."""

    @abstractmethod
    def log(self, step: int, metrics: dict[str, float], files: dict[str, bytes]) -> None:
        """One generation: its metrics and its files (PNG images, text), at `step`."""

    @abstractmethod
    def close(self, failure: str | None) -> None:
        """End the run: finished, or failed with `failure` as its message."""


def images(files: dict[str, bytes]) -> dict[str, Any]:
    """The PNG files as PIL images, keyed by name without the suffix ("samples.png" -> "samples")."""
    from PIL import Image

    return {PurePath(n).stem: Image.open(io.BytesIO(b)).convert("RGB") for n, b in files.items() if n.endswith(".png")}


def texts(files: dict[str, bytes]) -> dict[str, str]:
    """The .txt files as text, keyed by file name."""
    return {n: b.decode("utf-8", "replace") for n, b in files.items() if n.endswith(".txt")}


def flat(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested plain values -> {"params.d": "2", "metrics": "[]", ...} (trackers whose params are strings)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, (list, tuple)) or value is None else str(value)
    return out
