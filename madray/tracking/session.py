"""One trial's tracker runs: opened before its first remaining generation, fed each generation once.

The driver writes the resolved settings to <sweep folder>/tracking/trackers.json before any trial
starts (`prepare_tracking`); a trial without that file tracks nothing. Each tracker keeps a record
per trial, <sweep folder>/tracking/<tracker>/<trial_id>.json: the run's id, the last generation
logged and the run's state. A resumed trial reopens the same run and logs only later generations;
generations written to Parquet but not yet logged (a crash between the two, or trackers added on a
later run) are logged first, from the Parquet rows and artifact files on disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from madray.config import (
    CONFIG_COLUMNS,
    ROW_COLUMNS,
    TrialConfig,
    grid_values,
)
from madray.results.folder import SweepFolder
from madray.results.schema import PARTITION_COLUMN
from madray.results.store import load_trial
from madray.tracking import TRACKERS
from madray.tracking.base import RunInfo, Tracker
from madray.tracking.spec import TrackingSpec

SETTINGS_FILE = "trackers.json"
MEDIAN = "median/"  # prefix of the replicate medians (logged when a trial has more than one replicate)
_NOT_METRICS = {*CONFIG_COLUMNS, *ROW_COLUMNS, PARTITION_COLUMN}


def _write_json(folder: SweepFolder, path: str, data: Any) -> None:
    """Atomically (the sweep folder's writes: a killed trial leaves the old record or the new one)."""
    folder.write(path, json.dumps(data, indent=1).encode())


def _read_json(folder: SweepFolder, path: str) -> Any:
    text = folder.read_text(path)
    return None if text is None else json.loads(text)


def prepare_tracking(folder: SweepFolder, tracking: TrackingSpec,
                     registry: Mapping[str, type[Tracker]] = TRACKERS) -> None:
    """On the driver, after the sweep folder is ready: resolve each tracker's settings for the trials,
    or remove the settings of an earlier run if this one tracks nothing (nothing is sent unless asked)."""
    path = folder.tracking(SETTINGS_FILE)
    if not tracking:
        if folder.is_file(path):
            folder.delete(path)
        return
    trackers = {name: registry[name].resolve(config, folder.tracking(name), tracking.sweep)
                for name, config in tracking.trackers}
    _write_json(folder, path, {"sweep": tracking.sweep, "axes": list(tracking.axes), "trackers": trackers})


def metric_values(rows: list[Mapping[str, Any]]) -> dict[str, float]:
    """One generation's rows (one per replicate) -> each metric's replicate mean, and median if there
    are several replicates; a metric with no finite-or-infinite value (all NaN or missing) is left out."""
    names = dict.fromkeys(k for r in rows for k, v in r.items() if k not in _NOT_METRICS
                          and not k.startswith("param_") and isinstance(v, (int, float)) and not isinstance(v, bool))
    out: dict[str, float] = {}
    for name in names:
        values = np.array([float(r[name]) for r in rows if r.get(name) is not None], dtype=float)
        values = values[~np.isnan(values)]
        if values.size:
            out[name] = float(values.mean())
            if len(rows) > 1:
                out[MEDIAN + name] = float(np.median(values))
    return out


class TrialTracking:
    """The trackers of one trial (none: every method does nothing)."""

    def __init__(self, folder: SweepFolder, cfg: TrialConfig, runs: list[tuple[str, Tracker]]) -> None:
        self.folder, self.cfg, self.runs = folder, cfg, runs
        self.records = {name: self._record(name) for name, _ in runs}

    def _path(self, name: str) -> str:
        return self.folder.tracking(name, f"{self.cfg.trial_id}.json")

    def _record(self, name: str) -> dict[str, Any]:
        return _read_json(self.folder, self._path(name)) or {"run_id": None, "logged": 0, "state": "new"}

    def _save(self, name: str) -> None:
        _write_json(self.folder, self._path(name), self.records[name])

    def start(self, generation: int) -> TrialTracking:
        """Open each run that is not closed yet; log generations 1..`generation` it has not logged (from disk)."""
        self.runs = [(n, t) for n, t in self.runs if self.records[n]["state"] not in ("finished", "failed")]
        for name, tracker in self.runs:
            record = self.records[name]
            if record["state"] == "running" and tracker.replays_unclosed:
                record["logged"] = 0
            record["run_id"] = tracker.start(record["run_id"], record["logged"] + 1)
            record["state"] = "running"
            self._save(name)
        behind = min((self.records[n]["logged"] for n, _ in self.runs), default=generation)
        if behind < generation:
            self._backfill(behind, generation)
        return self

    def _backfill(self, after: int, upto: int) -> None:
        df = load_trial(self.folder, self.cfg.trial_id)
        df = df[(df.generation > after) & (df.generation <= upto)].dropna(axis=1, how="all")
        for generation, rows in df.groupby("generation"):
            self.log(int(generation), rows.to_dict("records"), self._files(int(generation)))

    def _files(self, generation: int) -> dict[str, bytes]:
        folder = Path(self.folder.artifacts(self.cfg.trial_id))
        prefix = f"gen-{generation:06d}-"
        return {p.name[len(prefix):]: p.read_bytes() for p in sorted(folder.glob(prefix + "*"))} if folder.is_dir() else {}

    def log(self, generation: int, rows: list[Mapping[str, Any]], files: Mapping[str, bytes]) -> None:
        """One generation's rows as written to Parquet, and its artifact files, to every run behind it."""
        metrics = metric_values(rows)
        for name, tracker in self.runs:
            if generation > self.records[name]["logged"]:
                tracker.log(generation, metrics, dict(files))
                self.records[name]["logged"] = generation
                self._save(name)

    def close(self, failure: str | None = None) -> None:
        """Finish every run, or mark it failed with `failure`."""
        for name, tracker in self.runs:
            tracker.close(failure)
            self.records[name]["state"] = "failed" if failure else "finished"
            if failure:
                self.records[name]["failure"] = failure
            self._save(name)
        self.runs = []


def open_trackers(folder: SweepFolder, cfg: TrialConfig, generation: int,
                  registry: Mapping[str, type[Tracker]] = TRACKERS) -> TrialTracking:
    """The trial's tracker runs, opened, with generations up to `generation` (its checkpoint) logged."""
    settings = _read_json(folder, folder.tracking(SETTINGS_FILE)) if folder.local else None
    if not settings:
        return TrialTracking(folder, cfg, [])
    values = grid_values(cfg)
    tags = {axis: values.get(axis) for axis in settings["axes"]}
    runs = []
    for name, resolved in settings["trackers"].items():
        info = RunInfo(sweep=settings["sweep"], trial_id=cfg.trial_id, config=cfg.to_dict(), tags=tags,
                       folder=folder.tracking(name))
        runs.append((name, registry[name](resolved, info)))
    return TrialTracking(folder, cfg, runs).start(generation)
