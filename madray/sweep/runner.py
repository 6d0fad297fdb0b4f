"""`run_sweep`: every distinct trial of a validated sweep on Ray Tune, replicates batched inside, cheap
trials in packs (pack.py), in the lifecycle every madray Tune run shares (experiment.py).

Running the same sweep again on the same output resumes it: `Tuner.restore` re-queues unfinished and
crashed units, and each trial continues from its newest checkpoint; finished and failed trials are
not run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from madray.sweep.experiment import TuneExperiment, put_shared_inputs, trial_labels

import ray  # noqa: E402
from ray import tune  # noqa: E402

from madray.config import Resources  # noqa: E402
from madray.results.folder import SweepFolder  # noqa: E402
from madray.spec import Sweep  # noqa: E402
from madray.sweep.checkpoint import CheckpointStore  # noqa: E402
from madray.sweep.cost import prior_seconds  # noqa: E402
from madray.sweep.pack import make_units, members, unit_config  # noqa: E402
from madray.sweep.progress import Progress  # noqa: E402
from madray.sweep.trainable import REPORT_EVERY_S  # noqa: E402

EXPERIMENT = "tune"


@dataclass
class SweepOutcome:
    root: str  # where the results are
    trials: int
    failed: dict[str, str] = field(default_factory=dict)  # trial_id -> error message
    nodes: dict[str, str] = field(default_factory=dict)  # trial_id -> Ray node id it last ran on
    resumed: bool = False


def sweep_root(out: str, name: str) -> str:
    return SweepFolder.of(out, name).uri


def worker_slots(resources: Resources) -> int:
    """How many trials of this shape the connected Ray cluster runs at once (now: an autoscaler may add more)."""
    total = ray.cluster_resources()
    slots = int(total.get("CPU", 0) // resources.cpu)
    return min(slots, int(total.get("GPU", 0) // resources.gpu)) if resources.gpu else slots


def tune_units(sweep: Sweep, pack: bool = True) -> list[dict]:
    """The Tune trials' `config["trial"]`: units of madray trials, cheap ones in packs, longest first."""
    if not pack:
        return [unit_config((t,)) for t in sweep.trials]
    units = make_units(sweep.trials, worker_slots, prior_seconds)
    return [unit_config(u, i) for i, u in enumerate(units)]


def _progress(experiment: TuneExperiment, resuming: bool, emit: Callable[[str], None],
              live: bool, verbose: bool) -> Progress:
    sweep, folder = experiment.sweep, experiment.folder
    progress = Progress(trial_labels(sweep), sweep.metric_names, {t.trial_id: t.generations for t in sweep.trials},
                        emit, live=live, verbose=verbose)
    if resuming:
        checkpoints = CheckpointStore(folder)
        done = {t.trial_id: max(checkpoints.generations(t.trial_id), default=0) for t in sweep.trials}
        failures = folder.failures()
        progress.resumed(done, set(failures[failures["kind"] != "crashed"]["trial_id"]))  # crashed ones re-run
    return progress


def run_sweep(
    sweep: Sweep,
    out: str,
    *,
    address: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    emit: Callable[[str], None] = print,
    live: bool = False,
    verbose: bool = False,
    pack: bool = True,
) -> SweepOutcome:
    """Run every trial of `sweep`; results go to `<out>/<sweep name>/`.

    If that folder holds an interrupted run of the same sweep, it is resumed (`resume=True`
    requires one); a different sweep there is refused unless `overwrite`. Progress: one live
    status line if `live` (a terminal), else a line per finished trial and a status line every
    ~10 s; `verbose` adds a line per generation (each generation is then reported to Tune).
    `pack`: cheap trials run in packs (a resumed run keeps its first run's Tune trials).
    """
    experiment = TuneExperiment(SweepFolder.of(out, sweep.name), sweep, EXPERIMENT, address=address)

    def build(exp: TuneExperiment, resuming: bool) -> tune.Tuner:
        if resuming:
            emit(f"resuming the run in {exp.folder.uri}")
        progress = _progress(exp, resuming, emit, live, verbose)
        trainable = exp.trainable(put_shared_inputs(sweep.trials), 0.0 if verbose else REPORT_EVERY_S)
        if resuming and tune.Tuner.can_restore(exp.tune_state, storage_filesystem=exp.folder.fs):
            return tune.Tuner.restore(exp.tune_state, trainable, resume_errored=True, storage_filesystem=exp.folder.fs)
        return tune.Tuner(trainable, param_space={"trial": tune.grid_search(tune_units(sweep, pack))},
                          tune_config=exp.tune_config(), run_config=exp.run_config([progress]))

    resumed, results = experiment.run(overwrite, resume, build)
    failures = experiment.folder.failures()
    return SweepOutcome(
        root=experiment.folder.uri,
        trials=len(sweep.trials),
        failed={r.trial_id: f"{r.kind} at generation {r.generation}: {r.error}" for r in failures.itertuples()},
        nodes={m["trial_id"]: r.metrics.get("node_id") for r in results if r.metrics for m in members(r.config["trial"])},
        resumed=resumed,
    )
