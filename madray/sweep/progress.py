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
        self.done: set[str] = set()

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks with the experiment; a resumed run prints its lines.
        return {"labels": self.labels, "metrics": self.metrics}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["labels"], state["metrics"])

    def setup(self, **info) -> None:
        self.start = time.monotonic()

    def _prefix(self) -> str:
        return f"[{time.monotonic() - self.start:7.1f}s {len(self.done)}/{len(self.labels)} done]"

    def on_trial_result(self, iteration, trials, trial, result, **info):
        tid = trial.config["trial"]["trial_id"]
        if "failed" in result:
            self.done.add(tid)
            self.emit(f"{self._prefix()} {tid} FAILED ({result['failed']})")
            return
        shown = " ".join(f"{m}={_fmt(result[m])}" for m in self.metrics if m in result)
        self.emit(f"{self._prefix()} {tid} {self.labels[tid]} "
                  f"gen {result['generation']}/{trial.config['trial']['generations']}  {shown}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.done.add(trial.config["trial"]["trial_id"])

    def on_trial_error(self, iteration, trials, trial, **info):
        tid = trial.config["trial"]["trial_id"]
        self.done.add(tid)
        message = str(getattr(trial, "error_msg", "") or "error").strip().splitlines()[-1]
        self.emit(f"{self._prefix()} {tid} CRASHED: {message}")
