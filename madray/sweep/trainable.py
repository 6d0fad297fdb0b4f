"""The Ray Tune trainable: one trial's loop, one generation at a time, resumable.

The `Trial` (model state, synthetic pool, generation index) lives in the Tune
trainable itself, which Tune already runs as a Ray actor inside the trial's
placement group (one bundle with the trial's CPUs and GPU, see runner.py) and
reuses across trials (`reuse_actors=True`). A nested actor per trial was measured
at 109 s against 15 s for 32 eight-generation Gaussian trials on 2 cores: each
one starts a worker process. A family that starts Ray tasks of its own would add
bundles to the trial's placement group.

Per generation: step, write the rows (and artifacts), check for divergence, write
the checkpoint. A crash before the checkpoint recomputes that generation on resume
and overwrites its files with identical rows.

Reports to Tune are throttled to one per `report_every` seconds (and always one at the
last generation, or at a failure): each report is a round-trip through the Tune
controller (~37 ms of its time, measured), which with 0.1 s generations made the
controller the bottleneck and 2 worker CPUs slower than 1. Nothing depends on a report
per generation: results and checkpoints are written per generation, and resuming
reads the checkpoints, not Tune's.
"""

from __future__ import annotations

import functools
import time
import traceback
from typing import Any

import pyarrow as pa
import ray
from ray import tune

from madray.results.store import ResultWriter, clear_failure, write_failure
from madray.spec import trial_from_dict
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.divergence import divergence
from madray.trial import Trial, summarize


REPORT_EVERY_S = 1.0  # at most one Tune report per trial per second (plus the last generation's)


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


def resume(trial: Trial, checkpoints: CheckpointStore) -> Trial:
    """Continue from the trial's newest checkpoint, if it has one."""
    saved = checkpoints.load_latest(trial.cfg.trial_id)
    if saved is not None:
        trial.load_state_dict(saved)
    return trial


def _fail(root: str, trial_id: str, generation: int, kind: str, error: str, details: str = "") -> None:
    write_failure(root, trial_id, generation, kind, error, details)
    tune.report({"generation": generation, "failed": f"{kind} at generation {generation}: {error}",
                 "node_id": ray.get_runtime_context().get_node_id()})


def tune_trial(config: dict[str, Any], root: str, schema: pa.Schema,
               shared: dict[str, ray.ObjectRef] | None = None, report_every: float = REPORT_EVERY_S) -> None:
    """Runs in a Ray worker: resumes the trial, then writes and checkpoints each generation and
    reports to Tune at most every `report_every` seconds and at the last generation."""
    cfg = trial_from_dict(config["trial"])
    writer, checkpoints = ResultWriter(root, schema), CheckpointStore(root)
    writer.remove_temporaries(cfg.trial_id)
    ref = (shared or {}).get(cfg.trial_id)
    trial = resume(Trial(cfg, _shared_inputs(ref) if ref is not None else None), checkpoints)
    names = cfg.metrics or trial.family.metric_names
    node = ray.get_runtime_context().get_node_id()
    if trial.done:  # finished in an earlier run that was interrupted before Tune recorded it
        tune.report({"generation": trial.generation, "node_id": node})
    throttle = Throttle(report_every)
    while not trial.done:
        try:
            rows = trial.step()
        except Exception as e:  # the model's own failure: final, recorded; other trials go on
            error = f"{type(e).__name__}: {e}"
            return _fail(root, cfg.trial_id, trial.generation + 1, "exception", error, traceback.format_exc())
        writer.write(cfg.trial_id, trial.generation, rows)
        for name, content in trial.artifacts.items():
            writer.write_artifact(cfg.trial_id, trial.generation, name, content)
        problem = divergence(trial.state, rows, names)
        if problem:
            return _fail(root, cfg.trial_id, trial.generation, "diverged", problem)
        checkpoints.save(cfg.trial_id, trial.state_dict())
        if throttle.due(final=trial.done):
            tune.report({"generation": trial.generation, "node_id": node, **summarize(rows, names)})
    clear_failure(root, cfg.trial_id)  # a crash of an earlier attempt is no longer a failure
