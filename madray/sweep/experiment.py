"""One lifecycle for `madray run` and `madray search`: lock the sweep folder, prepare it, open the Ray
session, fit a Tuner whose trials are units of madray trials (pack.py), record the crashes.

The driver never holds result rows: each unit writes its trials' Parquet files and checkpoints
(trainable.py), and a re-run of the same sweep on the same folder resumes from those.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402

from madray.config import TrialConfig  # noqa: E402
from madray.errors import DiskFullError  # noqa: E402
from madray.models import family_class, family_module  # noqa: E402
from madray.results.folder import SweepFolder  # noqa: E402
from madray.results.schema import file_schema, sweep_schema  # noqa: E402
from madray.spec import Sweep, dump_sweep  # noqa: E402
from madray.sweep.checkpoint import CheckpointStore  # noqa: E402
from madray.sweep.pack import members  # noqa: E402
from madray.sweep.progress import Progress  # noqa: E402
from madray.sweep.ray_session import Session, ray_session, tune_actor_environment  # first: sets Ray's environment
from madray.sweep.trainable import FULL, REPORT_EVERY_S, TrialRunner, tune_unit  # noqa: E402
from madray.tracking.session import prepare_tracking  # noqa: E402

# madray reads results from its own files, not Tune's per-trial logs (switched off by ray_session).
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)

MAX_CRASHES = 2  # Tune retries a unit whose worker or node died this often (from its checkpoints)


def results_schema(sweep: Sweep) -> pa.Schema:
    return sweep_schema(sweep.name, sweep.param_types(), sweep.metric_names)


def trial_labels(sweep: Sweep) -> dict[str, str]:
    return {row.pop("trial_id"): " ".join(f"{k}={v}" for k, v in row.items()) for row in sweep.grid_table()}


def put_shared_inputs(trials: tuple[TrialConfig, ...]) -> dict[str, ray.ObjectRef]:
    """`Family.shared_inputs` computed once per distinct `shared_key` and put in the object store, so a
    large input travels to each node once, not per trial or generation."""
    by_key: dict[Any, ray.ObjectRef] = {}
    refs = {}
    for cfg in trials:
        cls = family_class(cfg.family)
        key = cls.shared_key(cfg)
        if key not in by_key:
            by_key[key] = ray.put(cls.shared_inputs(cfg))
        refs[cfg.trial_id] = by_key[key]
    return refs


def _resources(config: dict) -> tune.PlacementGroupFactory:
    res = config["trial"]["resources"]  # one bundle: the trainable actor runs the trials itself
    return tune.PlacementGroupFactory([{"CPU": res["cpu"], **({"GPU": res["gpu"]} if res["gpu"] else {})}])


def _trial_name(trial) -> str:
    return trial.config["trial"]["trial_id"]


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopWhen(tune.Stopper):
    """Stops the whole experiment once `condition()` holds (a full disk: no trial can write anything)."""

    def __init__(self, condition: Callable[[], bool]) -> None:
        self.condition = condition

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.condition()


def _megabytes(n: float) -> str:
    return f"{n / 2**20:,.0f} MB" if n < 2**30 else f"{n / 2**30:,.1f} GB"


def disk_full_message(folder: SweepFolder, sweep: Sweep, detail: str) -> str:
    """What a full disk means for this sweep: free space now, and about how much more it needs."""
    head = f"the disk holding {folder.uri} is full ({detail})"
    if not folder.local:
        return f"{head}; free space there, then run the same command again: it resumes"
    used = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder.root) for f in files)
    checkpoints = CheckpointStore(folder)
    done = sum(min(c.generations, max(checkpoints.generations(c.trial_id), default=0)) for c in sweep.trials)
    left = sum(c.generations for c in sweep.trials) - done
    free = shutil.disk_usage(folder.root).free
    need = f"about {_megabytes(used / done * left)} more for its {left} trial-generations left " \
           f"({_megabytes(used / done)} per trial-generation so far)" if done else "more space than there is"
    return (f"{head}: {_megabytes(free)} free, and the sweep needs {need}. Free that much, or copy the folder to "
            f"a bigger disk and use that --out; then run the same command again: it resumes from the last "
            f"completed generation of every trial")


@contextlib.contextmanager
def stop_on_signals(folder: SweepFolder, emit: Callable[[str], None]) -> Iterator[list[int]]:
    """While the block runs, SIGINT and SIGTERM ask every trial to stop at its next generation boundary
    (a marker in the sweep folder that the trials read between generations); a second signal stops at
    once (KeyboardInterrupt). Yields the list the first signal's number is appended to."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # signals can be caught in the main thread only
        return

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        folder.request_stop()
        emit(f"{signal.Signals(signum).name}: every trial stops at its next generation boundary "
             f"(send it again to stop at once, losing the generations in progress)")

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        folder.clear_stop()


@dataclass
class TuneExperiment:
    """A sweep folder's Tune experiment. `sweep` names the trials and schema; `recorded` is what
    sweep.yaml holds (a search records its spec only: its trials are made as it goes)."""

    folder: SweepFolder
    sweep: Sweep
    name: str  # Tune's experiment folder under _tune/
    recorded: Sweep | None = None
    address: str | None = None
    session: Session | None = None
    emit: Callable[[str], None] = print
    stopped_by: int | None = None  # the signal that stopped the run early, if one did
    callbacks: list[tune.Callback] = field(default_factory=list)

    def run(self, overwrite: bool, resume: bool,
            build: Callable[[TuneExperiment, bool], tune.Tuner | None]) -> tuple[bool, list[tune.Result]]:
        """Lock and prepare the folder, open Ray, fit `build(self, resuming)` (None: nothing to run);
        (resuming, the Tune results).

        Tune's own experiment state is deleted first: madray's files are the truth (a state cut short
        by a full disk or a kill must never block a resume), and each trial resumes from its checkpoint.
        """
        try:
            return self._run(overwrite, resume, build)
        except OSError as e:
            if e.errno not in FULL or isinstance(e, DiskFullError):
                raise
            raise DiskFullError(disk_full_message(self.folder, self.sweep, f"{e.strerror}: {e.filename}")) from None

    def _run(self, overwrite: bool, resume: bool, build) -> tuple[bool, list[tune.Result]]:
        with self.folder.lock():
            resuming = self.folder.prepare(dump_sweep(self.recorded or self.sweep), results_schema(self.sweep),
                                           overwrite=overwrite, resume=resume)
            self.folder.clear_stop()  # a stop request of a run that was killed afterwards
            prepare_tracking(self.folder, self.sweep.tracking)
            if self.folder.exists(self.tune_state):
                self.folder.delete(self.tune_state)
            preload = {family_module(c.family) for c in self.sweep.trials}
            with ray_session(self.address, preload) as self.session:
                self._warn_if_local_storage()
                tuner = build(self, resuming)
                results: list[tune.Result] = []
                if tuner is not None:
                    with tune_actor_environment(self.session), stop_on_signals(self.folder, self.emit) as received:
                        results = list(tuner.fit())
                    self.stopped_by = received[0] if received else None
            full = next((c.disk_full for c in self.callbacks if isinstance(c, Progress) and c.disk_full), None)
            if full:
                raise DiskFullError(disk_full_message(self.folder, self.sweep, full))
            self.record_crashes(results)
        return resuming, results

    # ------------------------------------------------------------------ what build() uses
    def trainable(self, shared: Mapping[str, ray.ObjectRef] | None, report_every: float = REPORT_EVERY_S):
        """`tune_unit` bound to this folder and schema, with each unit's resources."""
        runner = TrialRunner(self.folder, file_schema(results_schema(self.sweep)), shared)
        return tune.with_resources(tune.with_parameters(tune_unit, runner=runner, report_every=report_every),
                                   _resources)

    def tune_config(self, reuse_actors: bool = True, **kwargs: Any) -> tune.TuneConfig:
        """Reused actors (unless a trial asks for a process of its own); Tune trials named after their units."""
        return tune.TuneConfig(reuse_actors=reuse_actors, trial_name_creator=_trial_name,
                               trial_dirname_creator=_trial_name, **kwargs)

    def run_config(self, callbacks: list[tune.Callback]) -> tune.RunConfig:
        """Tune's run settings; a full disk reported to a Progress callback stops the experiment."""
        self.callbacks = callbacks
        progress = [c for c in callbacks if isinstance(c, Progress)]
        return tune.RunConfig(name=self.name, storage_path=self.folder.tune_dir, storage_filesystem=self.folder.fs,
                              verbose=0, callbacks=callbacks, failure_config=tune.FailureConfig(max_failures=MAX_CRASHES),
                              stop=StopWhen(lambda: any(p.disk_full for p in progress)))

    @property
    def tune_state(self) -> str:
        """Tune's own experiment folder (never needed to resume: madray's files are the truth)."""
        return f"{self.folder.tune_dir}/{self.name}"

    # ------------------------------------------------------------------ after the fit
    def record_crashes(self, results: list[tune.Result]) -> None:
        """Trials of a unit Tune gave up on (worker or node lost more than MAX_CRASHES times), that had
        not finished or failed already, get a failure record too."""
        checkpoints = CheckpointStore(self.folder)
        failed = set(self.folder.failures()["trial_id"])
        for result in results:
            if result.error is None:
                continue
            message = str(result.error).strip().splitlines()[-1]
            for member in members(result.config["trial"]):
                tid = member["trial_id"]
                done = max(checkpoints.generations(tid), default=0)
                if tid not in failed and done < member["generations"]:
                    self.folder.write_failure(tid, done + 1, "crashed", message, str(result.error))

    def _warn_if_local_storage(self) -> None:
        if self.folder.local and len([n for n in ray.nodes() if n["Alive"]]) > 1:
            warnings.warn(f"--out {self.folder.uri!r} is a local path on a multi-node cluster: every node must see "
                          f"it (a shared filesystem), or use s3://bucket/path", stacklevel=4)
