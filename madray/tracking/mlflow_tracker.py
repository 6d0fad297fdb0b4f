"""MLflow: one run per trial in the sweep's experiment (default: the sweep's name), named by trial id;
the trial's config as params (flattened: params.d, curate.kind, ...), the grid axes as tags, every
metric at step = generation, sample grids with `log_image` (key = file name, step = generation).

`tracking_uri` defaults to $MLFLOW_TRACKING_URI, else MLflow's own default (sqlite:///mlflow.db in
the folder madray runs from), so `mlflow ui` started there shows the runs. Relative paths are made
absolute on the driver: Ray Tune runs trials in folders of their own. MLflow 3 refuses a file store
(file:./mlruns) unless MLFLOW_ALLOW_FILE_STORE=true; asking for one in the sweep file sets it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from madray.tracking.base import Tracker, flat, images, texts

PARAMS_PER_BATCH = 100  # MLflow's log_batch limit
PARAM_LENGTH = 6000  # MLflow's longest param value
FAILURE_TAG = "madray.failure"


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else MLflow's default
    experiment: str | None = None  # None: the sweep's name


def absolute_uri(uri: str) -> str:
    """A file store or SQLite URI (or a plain path) with its path made absolute; others unchanged."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    if uri.startswith("file:") and not uri.startswith("file://"):
        return Path(uri[len("file:"):]).resolve().as_uri()
    if "://" not in uri and ":" not in uri:
        return Path(uri).resolve().as_uri()
    return uri


def client(uri: str):
    from mlflow import MlflowClient

    if uri.startswith("file:"):  # asked for by the sweep; MLflow 3 keeps file stores behind this switch
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


class MlflowTracker(Tracker):
    package = "mlflow"
    Config = MlflowConfig

    @classmethod
    def resolve(cls, config: MlflowConfig, folder: str, sweep: str) -> dict[str, Any]:
        import mlflow
        from mlflow.exceptions import MlflowException

        uri = absolute_uri(config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or mlflow.get_tracking_uri())
        mc, name = client(uri), config.experiment or sweep
        found = mc.get_experiment_by_name(name)
        if found is None:
            try:
                return {"tracking_uri": uri, "experiment_id": mc.create_experiment(name)}
            except MlflowException:  # another sweep created it meanwhile
                found = mc.get_experiment_by_name(name)
        return {"tracking_uri": uri, "experiment_id": found.experiment_id}

    def start(self, run_id: str | None, first_step: int) -> str:
        from mlflow.entities import Param

        self.mc = client(self.settings["tracking_uri"])
        if run_id is not None:
            self.mc.update_run(run_id, status="RUNNING")
            self.run_id = run_id
            return run_id
        tags = {**{k: str(v) for k, v in self.run.tags.items()},
                "madray.sweep": self.run.sweep, "madray.trial_id": self.run.trial_id}
        self.run_id = self.mc.create_run(self.settings["experiment_id"], run_name=self.run.trial_id,
                                         tags=tags).info.run_id
        params = [Param(k, v[:PARAM_LENGTH]) for k, v in flat(self.run.config).items()]
        for i in range(0, len(params), PARAMS_PER_BATCH):
            self.mc.log_batch(self.run_id, params=params[i:i + PARAMS_PER_BATCH])
        return self.run_id

    def log(self, step: int, metrics: dict[str, float], files: dict[str, bytes]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.mc.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])
        for key, image in images(files).items():
            self.mc.log_image(self.run_id, image, key=key, step=step)
        for name, text in texts(files).items():
            self.mc.log_text(self.run_id, text, f"generations/gen-{step:06d}-{name}")

    def close(self, failure: str | None) -> None:
        if failure:
            self.mc.set_tag(self.run_id, FAILURE_TAG, failure[:PARAM_LENGTH])
        self.mc.set_terminated(self.run_id, status="FAILED" if failure else "FINISHED")
