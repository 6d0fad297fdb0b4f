"""The Ray Tune trainable: `run_trial`, one generation at a time, rows written by the trial itself."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from ray import tune

from madray.config import TrialConfig
from madray.results.store import ResultWriter
from madray.trial import Trial, summarize


def tune_trial(config: dict[str, Any], root: str, schema: pa.Schema) -> None:
    """Runs in a Ray worker: writes each generation's rows, then reports replicate means to Tune."""
    cfg = TrialConfig.from_dict(config["trial"])
    writer = ResultWriter(root, schema)
    trial = Trial(cfg)
    names = cfg.metrics or trial.family.metric_names
    while not trial.done:
        rows = trial.step()
        writer.write(cfg.trial_id, trial.generation, rows)
        for name, content in trial.artifacts.items():
            writer.write_artifact(cfg.trial_id, trial.generation, name, content)
        tune.report({"generation": trial.generation, **summarize(rows, names)})
