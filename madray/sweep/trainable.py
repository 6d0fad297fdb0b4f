"""The Ray Tune trainable: a unit of madray trials, each one generation at a time, resumable.

A unit (pack.py) is what one Tune trial runs: one madray trial, or several cheap ones one after
another. The trials run inside the Tune trainable itself, an actor in the unit's placement group
(one bundle with its CPUs and GPU) that Tune reuses across units. Per generation: step, write the
rows and artifacts, check for divergence, write the checkpoint; a crash before the checkpoint
recomputes that generation on resume and overwrites its files with identical rows.

Every report to Tune carries `events`: the latest state of each trial that progressed since the last
report (generation, metrics, finished or failed), so that progress stays per trial. Reports are
throttled to one per `report_every` seconds and always sent at the unit's end: nothing depends on a
report per generation (results and checkpoints are, and resuming reads those).
"""

from __future__ import annotations

import errno
import functools
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import ray
from ray import tune
from threadpoolctl import threadpool_limits

from madray.config import TrialConfig
from madray.results.folder import SweepFolder
from madray.spec import trial_from_dict
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.divergence import divergence
from madray.sweep.pack import members
from madray.sweep.samples import MissingSamples, SampleStore
from madray.tracking.session import TrialTracking, open_trackers
from madray.trial import Trial, summarize

REPORT_EVERY_S = 1.0  # at most one Tune report per unit per second (plus the last one)
FULL = (errno.ENOSPC, errno.EDQUOT)  # a full disk or quota: the run stops (experiment.py says what is needed)


class Diverged(Exception):
    """NaN or inf in a generation's state or metrics (divergence.py)."""


class Throttle:
    """True at most once per `every` seconds, and always when told it is the last time."""

    def __init__(self, every: float, clock=time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.last = clock()

    def due(self, final: bool) -> bool:
        now = self.clock()
        if final or now - self.last >= self.every:
            self.last = now
            return True
        return False


@functools.lru_cache(maxsize=1)
def _shared_inputs(ref: ray.ObjectRef) -> Any:
    return ray.get(ref)  # trials run one after another in a reused actor: keep the last one


@dataclass(frozen=True)
class TrialRunner:
    """Runs madray trials into a sweep folder: rows, artifacts, checkpoints and failure records."""

    folder: SweepFolder
    schema: pa.Schema  # the results files' schema (results/schema.py file_schema)
    shared: Mapping[str, ray.ObjectRef] | None = None  # trial_id -> its family's shared inputs

    def make_trial(self, cfg: TrialConfig, samples: SampleStore, warn: Callable[[str], None] = print) -> Trial:
        """The trial, continued from its newest checkpoint (and the samples files it refers to) if it has one."""
        ref = (self.shared or {}).get(cfg.trial_id)
        trial = Trial(cfg, _shared_inputs(ref) if ref is not None else None, workdir=self.folder.work(cfg.trial_id))
        saved = CheckpointStore(self.folder).load_latest(cfg.trial_id, warn)
        if saved is not None:
            try:
                trial.load_state_dict(samples.internalize(saved))
            except MissingSamples as e:
                warn(f"trial {cfg.trial_id}: its generation-{saved['generation']} checkpoint cannot be used "
                     f"({e}); the trial starts again from generation 1")
        return trial

    def save(self, trial: Trial, samples: SampleStore) -> None:
        """The checkpoint, the pool by reference; pool files no kept checkpoint refers to are deleted
        (the previous checkpoint's pool starts at most one generation earlier)."""
        generations = trial.pool_generations()
        CheckpointStore(self.folder).save(trial.cfg.trial_id, samples.externalize(trial.state_dict(), generations))
        if generations:
            samples.forget_before(generations[0] - 1)

    def run(self, cfg: TrialConfig, on_generation: Callable[[Trial, dict[str, float]], None],
            warn: Callable[[str], None] = print) -> dict[str, Any] | None:
        """Resume one trial and write and checkpoint each of its remaining generations, calling
        `on_generation(trial, metric summary)` after each; returns its failure (or stop) event, or None.
        `warn`: where a warning for the user goes (the driver prints the trainable's, see tune_unit).

        BLAS and OpenMP get the trial's CPUs (`resources.cpu`), as in the planner's pilot: the worker
        process loaded numpy before Ray could set OMP_NUM_THREADS, and BLAS's own default (every
        core) on each of several trials oversubscribes the node."""
        with threadpool_limits(limits=max(1, int(cfg.resources.cpu))):
            return self._run(cfg, on_generation, warn)

    def _run(self, cfg: TrialConfig, on_generation: Callable[[Trial, dict[str, float]], None],
             warn: Callable[[str], None]) -> dict[str, Any] | None:
        self.folder.remove_temporaries(cfg.trial_id)
        samples = SampleStore(self.folder, cfg.trial_id)
        trial = self.make_trial(cfg, samples, warn)
        names = cfg.metrics or trial.family.metric_names
        trackers = open_trackers(self.folder, cfg, trial.generation)  # W&B, MLflow, TensorBoard if asked for
        while not trial.done:
            if self.folder.stop_requested():  # SIGINT or SIGTERM to the driver: stop at a generation boundary
                return {"trial_id": cfg.trial_id, "generation": trial.generation, "stopped": True}
            try:
                rows = trial.step()
            except Exception as e:  # the model's own failure: final, recorded; other trials go on
                return self._failure(cfg, trial.generation + 1, "exception", f"{type(e).__name__}: {e}",
                                     traceback.format_exc(), trackers)
            try:
                self._write(trial, rows, samples, names, trackers)
            except OSError as e:
                if e.errno not in FULL:
                    raise
                # the generation is lost (its files are not written); every other write would fail too
                return {"trial_id": cfg.trial_id, "generation": trial.generation, "disk_full": str(e)}
            except Diverged as e:
                return self._failure(cfg, trial.generation, "diverged", str(e), "", trackers)
            on_generation(trial, summarize(rows, names))
        trackers.close()
        self.folder.clear_failure(cfg.trial_id)  # a crash of an earlier attempt is no longer a failure
        return None

    def _write(self, trial: Trial, rows: list[dict[str, Any]], samples: SampleStore, names,
               trackers: TrialTracking) -> None:
        """A generation's rows and artifacts (and to the trackers), then (unless it diverged) its checkpoint."""
        tid = trial.cfg.trial_id
        self.folder.write_rows(tid, trial.generation, rows, self.schema)
        for name, content in trial.artifacts.items():
            self.folder.write_artifact(tid, trial.generation, name, content)
        trackers.log(trial.generation, rows, trial.artifacts)
        problem = divergence(trial.state, rows, names)
        if problem:
            raise Diverged(problem)
        self.save(trial, samples)

    def _failure(self, cfg: TrialConfig, generation: int, kind: str, error: str, details: str = "",
                 trackers: TrialTracking | None = None) -> dict[str, Any]:
        if trackers is not None:
            trackers.close(f"{kind} at generation {generation}: {error}")
        self.folder.write_failure(cfg.trial_id, generation, kind, error, details)
        return {"trial_id": cfg.trial_id, "generation": generation, "failed": f"{kind} at generation {generation}: {error}"}

    def earlier_failure(self, cfg: TrialConfig) -> dict[str, Any] | None:
        """The failure event of a trial that failed for good in an earlier attempt (a crash is retried)."""
        record = self.folder.read_failure(cfg.trial_id)
        if record is None or record["kind"] == "crashed":
            return None
        return {"trial_id": cfg.trial_id, "generation": record["generation"],
                "failed": f"{record['kind']} at generation {record['generation']}: {record['error']}"}


def tune_unit(config: dict[str, Any], runner: TrialRunner, report_every: float = REPORT_EVERY_S) -> None:
    """Runs in a Ray worker: the unit's trials one after another; throttled reports carry their events."""
    node, throttle = ray.get_runtime_context().get_node_id(), Throttle(report_every)
    events: dict[str, dict[str, Any]] = {}  # trial_id -> its latest event since the last report
    notes: list[str] = []  # warnings for the user, printed by the driver's progress display
    done = 0  # generations of the unit's trials run or found finished so far

    def send(final: bool = False) -> None:
        if (events or notes or final) and throttle.due(final or bool(notes)):
            tune.report({"generation": done, "node_id": node, "events": list(events.values()), "warnings": list(notes)})
            events.clear()
            notes.clear()

    for entry in members(config["trial"]):
        cfg = trial_from_dict(entry)
        earlier = runner.earlier_failure(cfg)
        if earlier is not None:
            events[cfg.trial_id] = earlier
            continue
        ran = False

        def on_generation(trial: Trial, summary: dict[str, float], tid: str = cfg.trial_id) -> None:
            nonlocal done, ran
            done, ran = done + 1, True
            events[tid] = {"trial_id": tid, "generation": trial.generation, "finished": trial.done, **summary}
            send()

        ended = runner.run(cfg, on_generation, notes.append)
        if ended:
            events[cfg.trial_id] = ended
            if ended.get("stopped") or ended.get("disk_full"):
                break  # the run is stopping: the unit's other trials wait for the next run
        elif not ran:  # finished in an earlier attempt
            done += cfg.generations
            events[cfg.trial_id] = {"trial_id": cfg.trial_id, "generation": cfg.generations, "finished": True}
        send()
    send(final=True)
