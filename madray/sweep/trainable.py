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

A pack (runner.py packs cheap trials, see pack.py) is one Tune trial that runs several
configs one after another, each exactly as a trial of its own: its own rows, checkpoints
and failure record under its own trial id. Its throttled reports carry `events`, the
latest state of each config that progressed since the last report (generation, metrics,
finished or failed), so that progress stays per trial. A config that failed in an earlier
attempt of its pack is not run again.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import ray
from ray import tune

from madray.config import TrialConfig
from madray.results.store import (
    ResultWriter,
    clear_failure,
    read_failure,
    write_failure,
)
from madray.spec import trial_from_dict
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.divergence import divergence
from madray.trial import Trial, summarize, trial_workdir

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


def _node() -> str:
    return ray.get_runtime_context().get_node_id()


def _failure(root: str, trial_id: str, generation: int, kind: str, error: str, details: str = "") -> dict[str, Any]:
    write_failure(root, trial_id, generation, kind, error, details)
    return {"generation": generation, "failed": f"{kind} at generation {generation}: {error}"}


def run_config(cfg: TrialConfig, root: str, schema: pa.Schema, shared: dict[str, ray.ObjectRef] | None,
               on_generation: Callable[[Trial, dict[str, float]], None]) -> dict[str, Any] | None:
    """Resume one config and write and checkpoint each of its remaining generations, calling
    `on_generation(trial, metric summary)` after each; returns its failure report, or None."""
    writer, checkpoints = ResultWriter(root, schema), CheckpointStore(root)
    writer.remove_temporaries(cfg.trial_id)
    ref = (shared or {}).get(cfg.trial_id)
    trial = resume(Trial(cfg, _shared_inputs(ref) if ref is not None else None,
                         workdir=trial_workdir(root, cfg.trial_id)), checkpoints)  # HOOK(byom): the trial's folder
    names = cfg.metrics or trial.family.metric_names
    while not trial.done:
        try:
            rows = trial.step()
        except Exception as e:  # the model's own failure: final, recorded; other trials go on
            error = f"{type(e).__name__}: {e}"
            return _failure(root, cfg.trial_id, trial.generation + 1, "exception", error, traceback.format_exc())
        writer.write(cfg.trial_id, trial.generation, rows)
        for name, content in trial.artifacts.items():
            writer.write_artifact(cfg.trial_id, trial.generation, name, content)
        problem = divergence(trial.state, rows, names)
        if problem:
            return _failure(root, cfg.trial_id, trial.generation, "diverged", problem)
        checkpoints.save(cfg.trial_id, trial.state_dict())
        on_generation(trial, summarize(rows, names))
    clear_failure(root, cfg.trial_id)  # a crash of an earlier attempt is no longer a failure
    return None


def tune_trial(config: dict[str, Any], root: str, schema: pa.Schema,
               shared: dict[str, ray.ObjectRef] | None = None, report_every: float = REPORT_EVERY_S) -> None:
    """Runs in a Ray worker: resumes the trial, then writes and checkpoints each generation and
    reports to Tune at most every `report_every` seconds and at the last generation."""
    if "pack" in config["trial"]:
        return tune_pack(config, root, schema, shared, report_every)
    cfg, node, throttle = trial_from_dict(config["trial"]), _node(), Throttle(report_every)
    reported = False

    def on_generation(trial: Trial, summary: dict[str, float]) -> None:
        nonlocal reported
        if throttle.due(final=trial.done):
            reported = True
            tune.report({"generation": trial.generation, "node_id": node, **summary})

    failed = run_config(cfg, root, schema, shared, on_generation)
    if failed:
        tune.report({**failed, "node_id": node})
    elif not reported:  # finished in an earlier run that was interrupted before Tune recorded it
        tune.report({"generation": cfg.generations, "node_id": node})


def tune_pack(config: dict[str, Any], root: str, schema: pa.Schema,
              shared: dict[str, ray.ObjectRef] | None = None, report_every: float = REPORT_EVERY_S) -> None:
    """A pack's configs one after another; one throttled report carries each config's latest event."""
    node, throttle = _node(), Throttle(report_every)
    events: dict[str, dict[str, Any]] = {}  # trial_id -> its latest event since the last report
    done = 0  # generations of the pack's configs run or found finished so far

    def send(final: bool = False) -> None:
        if (events or final) and throttle.due(final):
            tune.report({"generation": done, "node_id": node, "events": list(events.values())})
            events.clear()

    for entry in config["trial"]["pack"]:
        cfg = trial_from_dict(entry)
        earlier = read_failure(root, cfg.trial_id)
        if earlier is not None and earlier["kind"] != "crashed":  # final, from an earlier attempt of this pack
            events[cfg.trial_id] = {"trial_id": cfg.trial_id, "generation": earlier["generation"],
                                    "failed": f"{earlier['kind']} at generation {earlier['generation']}: "
                                              f"{earlier['error']}"}
            continue
        ran = False

        def on_generation(trial: Trial, summary: dict[str, float], tid: str = cfg.trial_id) -> None:
            nonlocal done, ran
            done, ran = done + 1, True
            events[tid] = {"trial_id": tid, "generation": trial.generation, "finished": trial.done, **summary}
            send()

        failed = run_config(cfg, root, schema, shared, on_generation)
        if failed:
            events[cfg.trial_id] = {"trial_id": cfg.trial_id, **failed}
        elif not ran:  # finished in an earlier attempt
            done += cfg.generations
            events[cfg.trial_id] = {"trial_id": cfg.trial_id, "generation": cfg.generations, "finished": True}
        send()
    send(final=True)
