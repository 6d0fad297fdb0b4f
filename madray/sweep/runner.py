"""Run a validated sweep on Ray Tune: one Tune trial per grid point, replicates batched inside.

The driver never holds result rows: each trial writes its own Parquet files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable

# Ray reads these when ray.tune is imported: plain output, no per-trial loggers.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray import tune  # noqa: E402

from madray.config import Sweep, dump_sweep  # noqa: E402
from madray.results.schema import metric_names, sweep_schema  # noqa: E402
from madray.results.store import filesystem, join, prepare_output  # noqa: E402
from madray.sweep.progress import ProgressLines  # noqa: E402
from madray.sweep.trainable import tune_trial  # noqa: E402


@dataclass
class SweepOutcome:
    root: str  # where the results are
    trials: int
    failed: dict[str, str] = field(default_factory=dict)  # trial_id -> error message


def sweep_root(out: str, name: str) -> str:
    fs, path = filesystem(out)
    return join(out if "://" in out else path, name)


def ensure_ray(address: str | None = None) -> None:
    """Connect to `address` / RAY_ADDRESS, or start an embedded local Ray (dashboard off)."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(include_dashboard=False, logging_level=logging.WARNING)


def _labels(sweep: Sweep) -> dict[str, str]:
    return {
        row.pop("trial_id"): " ".join(f"{k}={v}" for k, v in row.items())
        for row in sweep.grid_table()
    }


def _resources(config: dict) -> tune.PlacementGroupFactory:
    res = config["trial"]["resources"]
    bundle = {"CPU": res["cpu"], **({"GPU": res["gpu"]} if res["gpu"] else {})}
    return tune.PlacementGroupFactory([bundle])


def run_sweep(
    sweep: Sweep,
    out: str,
    *,
    address: str | None = None,
    overwrite: bool = False,
    emit: Callable[[str], None] = print,
) -> SweepOutcome:
    """Run every trial of `sweep`; results go to `<out>/<sweep name>/`."""
    root = sweep_root(out, sweep.name)
    prepare_output(root, dump_sweep(sweep), overwrite=overwrite)
    ensure_ray(address)
    trainable = tune.with_resources(tune.with_parameters(tune_trial, root=root, schema=sweep_schema(sweep)), _resources)
    progress = ProgressLines(_labels(sweep), metric_names(sweep), emit)
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search([t.to_dict() for t in sweep.trials])},
        tune_config=tune.TuneConfig(
            reuse_actors=True,
            trial_name_creator=lambda t: t.config["trial"]["trial_id"],
            trial_dirname_creator=lambda t: t.config["trial"]["trial_id"],
        ),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=join(root, "_tune"),
            verbose=0,
            callbacks=[progress],
        ),
    )
    tuner.fit()
    return SweepOutcome(root=root, trials=len(sweep.trials), failed=dict(progress.failed))
