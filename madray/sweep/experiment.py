"""One lifecycle for `madray run` and `madray search`: lock the sweep folder, prepare it, open the Ray
session, fit a Tuner whose trials are units of madray trials (pack.py), record the crashes.

The driver never holds result rows: each unit writes its trials' Parquet files and checkpoints
(trainable.py), and a re-run of the same sweep on the same folder resumes from those.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from madray.sweep.ray_session import Session, ray_session, tune_actor_environment  # first: sets Ray's environment

import pyarrow as pa  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402

from madray.config import TrialConfig  # noqa: E402
from madray.models import family_class, family_module  # noqa: E402
from madray.results.folder import SweepFolder  # noqa: E402
from madray.results.schema import file_schema, sweep_schema  # noqa: E402
from madray.spec import Sweep, dump_sweep  # noqa: E402
from madray.sweep.checkpoint import CheckpointStore  # noqa: E402
from madray.sweep.pack import members  # noqa: E402
from madray.sweep.trainable import REPORT_EVERY_S, TrialRunner, tune_unit  # noqa: E402

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

    def run(self, overwrite: bool, resume: bool, build: Callable[[TuneExperiment, bool], tune.Tuner]) -> tuple[bool, tune.ResultGrid]:
        """Lock and prepare the folder, open Ray, fit `build(self, resuming)`; (resuming, results)."""
        with self.folder.lock():
            resuming = self.folder.prepare(dump_sweep(self.recorded or self.sweep), results_schema(self.sweep),
                                           overwrite=overwrite, resume=resume)
            preload = {family_module(c.family) for c in self.sweep.trials}
            with ray_session(self.address, preload) as self.session:
                self._warn_if_local_storage()
                tuner = build(self, resuming)
                with tune_actor_environment(self.session):
                    results = tuner.fit()
            self.record_crashes(results)
        return resuming, results

    # ------------------------------------------------------------------ what build() uses
    def trainable(self, shared: Mapping[str, ray.ObjectRef] | None, report_every: float = REPORT_EVERY_S):
        """`tune_unit` bound to this folder and schema, with each unit's resources."""
        runner = TrialRunner(self.folder, file_schema(results_schema(self.sweep)), shared)
        return tune.with_resources(tune.with_parameters(tune_unit, runner=runner, report_every=report_every),
                                   _resources)

    def tune_config(self, **kwargs: Any) -> tune.TuneConfig:
        """Reused actors; Tune trials named after their units."""
        return tune.TuneConfig(reuse_actors=True, trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
                               **kwargs)

    def run_config(self, callbacks: list[tune.Callback]) -> tune.RunConfig:
        return tune.RunConfig(name=self.name, storage_path=self.folder.tune_dir, storage_filesystem=self.folder.fs,
                              verbose=0, callbacks=callbacks, failure_config=tune.FailureConfig(max_failures=MAX_CRASHES))

    @property
    def tune_state(self) -> str:
        """Tune's own experiment folder (never needed to resume: madray's files are the truth)."""
        return f"{self.folder.tune_dir}/{self.name}"

    # ------------------------------------------------------------------ after the fit
    def record_crashes(self, results: tune.ResultGrid) -> None:
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
