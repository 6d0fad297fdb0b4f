"""One progress line per finished trial-generation instead of Ray's status tables."""

from __future__ import annotations

import math
import time
from typing import Callable

from ray import tune


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


class ProgressLines(tune.Callback):
    def __init__(self, labels: dict[str, str], metrics: list[str], emit: Callable[[str], None] = print) -> None:
        self.labels = labels  # trial_id -> "loop=... lam=..."
        self.metrics = metrics
        self.emit = emit
        self.start = time.monotonic()
        self.finished: set[str] = set()
        self.failed: dict[str, str] = {}

    def _prefix(self) -> str:
        done = len(self.finished) + len(self.failed)
        return f"[{time.monotonic() - self.start:7.1f}s {done}/{len(self.labels)} done]"

    def on_trial_result(self, iteration, trials, trial, result, **info):
        cfg = trial.config["trial"]
        shown = " ".join(f"{m}={_fmt(result[m])}" for m in self.metrics if m in result)
        self.emit(f"{self._prefix()} {cfg['trial_id']} {self.labels[cfg['trial_id']]} "
                  f"gen {result['generation']}/{cfg['generations']}  {shown}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.finished.add(trial.config["trial"]["trial_id"])

    def on_trial_error(self, iteration, trials, trial, **info):
        tid = trial.config["trial"]["trial_id"]
        self.failed[tid] = str(getattr(trial, "error_msg", "") or "error").strip().splitlines()[-1]
        self.emit(f"{self._prefix()} {tid} FAILED: {self.failed[tid]}")
