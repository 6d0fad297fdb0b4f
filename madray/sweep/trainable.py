"""The Ray Tune trainable: one trial's loop, one generation at a time, resumable.

The `Trial` (model state, synthetic pool, generation index) lives in the Tune
trainable itself, which Tune already runs as a Ray actor inside the trial's
placement group (one bundle with the trial's CPUs and GPU, see runner.py) and
reuses across trials (`reuse_actors=True`). A nested actor per trial was measured
at 109 s against 15 s for 32 eight-generation Gaussian trials on 2 cores: each
one starts a worker process. A family that starts Ray tasks of its own would add
bundles to the trial's placement group.

Per generation: step, write the rows (and artifacts), check for divergence, write
the checkpoint, report to Tune. A crash before the checkpoint recomputes that
generation on resume and overwrites its files with identical rows.
"""

from __future__ import annotations

import functools
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
               shared: dict[str, ray.ObjectRef] | None = None) -> None:
    """Runs in a Ray worker: resumes the trial, then writes, checkpoints and reports each generation."""
    cfg = trial_from_dict(config["trial"])
    writer, checkpoints = ResultWriter(root, schema), CheckpointStore(root)
    writer.remove_temporaries(cfg.trial_id)
    ref = (shared or {}).get(cfg.trial_id)
    trial = resume(Trial(cfg, _shared_inputs(ref) if ref is not None else None), checkpoints)
    names = cfg.metrics or trial.family.metric_names
    node = ray.get_runtime_context().get_node_id()
    if trial.done:  # finished in an earlier run that was interrupted before Tune recorded it
        tune.report({"generation": trial.generation, "node_id": node})
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
        tune.report({"generation": trial.generation, "node_id": node, **summarize(rows, names)})
    clear_failure(root, cfg.trial_id)  # a crash of an earlier attempt is no longer a failure
