"""Progress people can read, instead of Ray's status tables.

Three modes, one Tune callback:
  - live (a terminal): one status line, redrawn in place at most 4 times a second: trials
    done/running/failed, generations per second, elapsed, ETA and the latest metric summary;
  - lines (no terminal: CI, `ray job` logs): one line per finished or failed trial and the
    status line at most every `summary_every` seconds;
  - verbose (either): also one line per Tune report (with `--verbose` the trainable reports
    every generation, see runner.py).
Failures and crashes are always printed on a line of their own. No third-party dependency:
the live line is a carriage return and an ANSI "erase line".

A Tune trial runs a unit of madray trials (pack.py) and its reports carry an event per trial
(trainable.tune_unit), so lines stay per madray trial.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ray import tune

from madray.sweep.pack import members

LIVE_REDRAW_S = 0.25
SUMMARY_EVERY_S = 10.0


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _duration(seconds: float) -> str:
    if math.isinf(seconds) or math.isnan(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


@dataclass
class Tally:
    """What the sweep has done so far: generations per trial, finished/failed/running trials."""

    generations: dict[str, int]  # trial_id -> its number of generations
    done: dict[str, int] = field(default_factory=dict)  # trial_id -> generations finished (as last reported)
    finished: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    shown: dict[str, str] = field(default_factory=dict)  # trial_id -> its latest metric summary
    latest: str = ""  # the trial that reported last

    def generations_done(self) -> int:
        return sum(self.done.values())

    def status(self, elapsed: float, since_start: int) -> str:
        """One line; `since_start` generations were computed in this process (for the rate)."""
        total = sum(self.generations.values())
        rate = since_start / elapsed if elapsed > 0 else 0.0
        left = total - self.generations_done()
        eta = left / rate if rate > 0 else (0.0 if left == 0 else math.inf)
        return (f"[{elapsed:7.1f}s] trials {len(self.finished)}/{len(self.generations)} done, "
                f"{len(self.running)} running, {len(self.failed)} failed | "
                f"{self.generations_done()}/{total} generations, {_rate(rate)} | ETA {_duration(eta)}"
                + (f" | {self.latest} gen {self.done[self.latest]}: {self.shown[self.latest]}" if self.latest else ""))


def _rate(per_second: float) -> str:
    """Generations per second, or per minute or hour when slower (a deep sweep: 0.0/s says nothing)."""
    for unit, scale in (("s", 1), ("min", 60), ("h", 3600)):
        if per_second * scale >= 0.1 or unit == "h":
            return f"{per_second * scale:.1f}/{unit}"


def crash_reason(message: str, limit: int = 240) -> str:
    """Why Ray says a worker or actor died, in one line (its messages run to 40 lines)."""
    if re.search(r"exits with a connection error code \d+\. End of file", message):
        return "its process ended without a word: killed (the OOM killer, ray stop --force) or crashed"
    for pattern in (r"Worker exit detail: (.+?)(?: Some common causes| There are some potential root causes|$)",
                    r"The actor is dead because (.+?\.)", r"(\w+Error: [^\n]+)"):
        found = re.search(pattern, message, re.S)
        if found:
            return " ".join(found.group(1).split())[:limit]
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no reason given")[:limit]


def trial_error(trial) -> str:
    """The latest failure Tune recorded for a trial (its error file holds one section per failure)."""
    try:
        with open(trial.error_file, encoding="utf-8", errors="replace") as f:
            return re.split(r"^Failure # \d+.*$", f.read(), flags=re.M)[-1]
    except (OSError, TypeError, AttributeError):
        return str(getattr(trial, "error_msg", "") or "")


class Progress(tune.Callback):
    def __init__(self, labels: dict[str, str], metrics: list[str], generations: dict[str, int],
                 emit: Callable[[str], None] = print, live: bool = False, verbose: bool = False,
                 summary_every: float = SUMMARY_EVERY_S, checkpointed: Callable[[str], int] | None = None) -> None:
        self.checkpointed = checkpointed  # trial_id -> its newest checkpoint's generation (for crash lines)
        self.disk_full: str | None = None  # the first trial's message when the disk filled up
        self.labels = labels  # trial_id -> "loop=... lam=..."
        self.metrics = metrics
        self.emit, self.live, self.verbose, self.summary_every = emit, live, verbose, summary_every
        self.tally = Tally(dict(generations))
        self.start = self.last_draw = time.monotonic()
        self.at_start = 0  # generations done before this process started (a resumed run), not in the rate
        self.drawn = False  # a live line is on screen

    def resumed(self, done: dict[str, int], failed: set[str]) -> None:
        """Start from an earlier run's checkpointed generations and failure records."""
        self.tally.done.update(done)
        self.tally.failed |= failed
        self.tally.finished |= {t for t, g in done.items() if g >= self.tally.generations[t] and t not in failed}
        self.at_start = self.tally.generations_done()

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks with the experiment; a resumed run prints its lines.
        return {"labels": self.labels, "metrics": self.metrics, "generations": self.tally.generations,
                "live": self.live, "verbose": self.verbose, "summary_every": self.summary_every}

    def __setstate__(self, state: dict) -> None:
        Progress.__init__(self, state["labels"], state["metrics"], state["generations"], live=state["live"],
                      verbose=state["verbose"], summary_every=state["summary_every"])

    def setup(self, **info) -> None:
        self.start = self.last_draw = time.monotonic()

    # ------------------------------------------------------------------ output
    def _status(self) -> str:
        return self.tally.status(time.monotonic() - self.start, self.tally.generations_done() - self.at_start)

    def line(self, text: str) -> None:
        """A line of its own (above the live line, which is redrawn after it)."""
        if self.drawn:
            sys.stdout.write("\r\x1b[K")
            self.drawn = False
        self.emit(text)
        self.refresh(force=self.live)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_draw < (LIVE_REDRAW_S if self.live else self.summary_every):
            return
        self.last_draw = now
        if self.live:  # cut to the terminal's width: a wrapped line cannot be redrawn in place
            sys.stdout.write("\r\x1b[K" + self._status()[: shutil.get_terminal_size().columns - 1])
            sys.stdout.flush()
            self.drawn = True
        else:
            self.emit(self._status())

    def _prefix(self) -> str:
        return f"[{time.monotonic() - self.start:7.1f}s {len(self.tally.finished)}/{len(self.labels)} done]"

    # ------------------------------------------------------------------ Tune events
    def on_trial_start(self, iteration, trials, trial, **info):
        unit = members(trial.config["trial"])
        for member in unit:
            self.tally.generations.setdefault(member["trial_id"], member["generations"])  # a search makes trials as it goes
        waiting = [m["trial_id"] for m in unit if m["trial_id"] not in self.tally.finished | self.tally.failed]
        self.tally.running.update(waiting[:1])  # a unit runs its trials one at a time
        self.refresh()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        for note in result.get("warnings", []):
            self.line(f"{self._prefix()} warning: {note}")
        for event in result.get("events", []):
            self._result(event["trial_id"], event)
            if event.get("finished"):
                self._complete(event["trial_id"])

    def _result(self, tid: str, result: dict) -> None:
        if result.get("stopped"):  # the run is stopping (SIGINT / SIGTERM): the trial resumes next run
            self.tally.running.discard(tid)
            return self.refresh()
        if result.get("disk_full"):  # the run stops (experiment.py); the trial resumes next run
            self.tally.running.discard(tid)
            if self.disk_full is None:
                self.disk_full = result["disk_full"]
                self.line(f"{self._prefix()} {tid}: the disk is full ({result['disk_full']}); stopping the run")
            return None
        if "failed" in result:
            self.tally.failed.add(tid)
            self.tally.running.discard(tid)
            return self.line(f"{self._prefix()} {tid} FAILED ({result['failed']})")
        self.tally.running.add(tid)
        shown = " ".join(f"{m}={_fmt(result[m])}" for m in self.metrics if m in result)
        if shown:  # (the report of a trial found finished on resume has no metrics)
            self.tally.shown[tid], self.tally.latest = shown, tid
        self.tally.done[tid] = result["generation"]
        if self.verbose:
            return self.line(f"{self._prefix()} {tid} {self.labels[tid]} "
                             f"gen {result['generation']}/{self.tally.generations[tid]}  {shown}")
        self.refresh()

    def on_trial_complete(self, iteration, trials, trial, **info):
        for member in members(trial.config["trial"]):  # (finished trials were shown as they finished)
            if member["trial_id"] not in self.tally.finished:
                self._complete(member["trial_id"])

    def _complete(self, tid: str) -> None:
        self.tally.running.discard(tid)
        if tid in self.tally.failed:
            return
        self.tally.finished.add(tid)
        if not self.live:
            return self.line(f"{self._prefix()} {tid} {self.labels[tid]} finished  {self.tally.shown.get(tid, '')}")
        self.refresh(force=True)

    def on_trial_recover(self, iteration, trials, trial, **info):
        """A unit's worker or node died and Tune runs it again: each unfinished trial from its checkpoint."""
        reason = crash_reason(trial_error(trial))
        for member in members(trial.config["trial"]):
            tid = member["trial_id"]
            if tid in self.tally.finished | self.tally.failed:
                continue
            self.tally.running.discard(tid)
            since = self.checkpointed(tid) if self.checkpointed else self.tally.done.get(tid, 0)
            who = " ".join(filter(None, (tid, self.labels.get(tid, ""))))
            self.line(f"{self._prefix()} {who}: its Ray worker died ({reason}); "
                      f"it runs again from its checkpoint after generation {since}")

    def on_trial_error(self, iteration, trials, trial, **info):
        message = crash_reason(trial_error(trial) or "error")
        for member in members(trial.config["trial"]):
            tid = member["trial_id"]
            if tid in self.tally.finished | self.tally.failed:
                continue  # a unit's trials that ended before the crash keep their outcome
            self.tally.failed.add(tid)
            self.tally.running.discard(tid)
            self.tally.finished.discard(tid)
            self.line(f"{self._prefix()} {tid} CRASHED: {message}")

    def on_experiment_end(self, trials, **info):
        self.refresh(force=True)
        if self.drawn:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.drawn = False


class ProgressLines(Progress):
    """The boundary search's progress (madray/search): trials become known as the search creates them
    (`labels` fills in as it goes), so the total is unknown and there is no live line: a line per
    finished trial, and with `verbose` one per Tune report."""

    def __init__(self, labels: dict[str, str], metrics: list[str], emit: Callable[[str], None] = print,
                 verbose: bool = False) -> None:
        super().__init__(labels, metrics, {}, emit, verbose=verbose)
