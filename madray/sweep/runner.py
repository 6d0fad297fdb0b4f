"""`run_sweep`: every distinct trial of a validated sweep on Ray Tune, replicates batched inside, cheap
trials in packs (pack.py), in the lifecycle every madray Tune run shares (experiment.py).

Running the same sweep again on the same output resumes it from madray's own files: the trials that
neither finished nor failed for good run again, each from its newest checkpoint (Tune's experiment
state is not used).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import ray  # noqa: E402
from ray import tune  # noqa: E402

from madray.config import Resources, TrialConfig  # noqa: E402
from madray.results.folder import SweepFolder  # noqa: E402
from madray.spec import Sweep  # noqa: E402
from madray.sweep.checkpoint import CheckpointStore  # noqa: E402
from madray.sweep.cost import prior_seconds  # noqa: E402
from madray.sweep.experiment import TuneExperiment, put_shared_inputs, trial_labels
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
    stopped_by: int | None = None  # SIGINT / SIGTERM stopped the run before every trial finished
    unfinished: tuple[str, ...] = ()  # trials that neither finished nor failed (resume them by running again)


def sweep_root(out: str, name: str) -> str:
    return SweepFolder.of(out, name).uri


def worker_slots(resources: Resources) -> int:
    """How many trials of this shape the connected Ray cluster runs at once (now: an autoscaler may add more)."""
    total = ray.cluster_resources()
    slots = int(total.get("CPU", 0) // resources.cpu)
    return min(slots, int(total.get("GPU", 0) // resources.gpu)) if resources.gpu else slots


def tune_units(sweep: Sweep, pack: bool = True, trials: tuple[TrialConfig, ...] | None = None) -> list[dict]:
    """The Tune trials' `config["trial"]` for `trials` (default: all): units of madray trials, cheap ones
    in packs, longest first."""
    trials = sweep.trials if trials is None else trials
    if not pack:
        return [unit_config((t,)) for t in trials]
    return [unit_config(u, i) for i, u in enumerate(make_units(trials, worker_slots, prior_seconds))]


def unfinished(sweep: Sweep, folder: SweepFolder) -> tuple[TrialConfig, ...]:
    """The trials that still have generations to run: not checkpointed at their last generation, and
    without a final failure record (a crash is run again)."""
    checkpoints, failures = CheckpointStore(folder), folder.failures()
    final = set(failures[failures["kind"] != "crashed"]["trial_id"])
    return tuple(c for c in sweep.trials if c.trial_id not in final
                 and max(checkpoints.generations(c.trial_id), default=0) < c.generations)


def _progress(experiment: TuneExperiment, resuming: bool, emit: Callable[[str], None],
              live: bool, verbose: bool) -> Progress:
    sweep, folder = experiment.sweep, experiment.folder
    checkpoints = CheckpointStore(folder)
    progress = Progress(trial_labels(sweep), sweep.metric_names, {t.trial_id: t.generations for t in sweep.trials},
                        emit, live=live, verbose=verbose,
                        checkpointed=lambda tid: max(checkpoints.generations(tid), default=0))
    if resuming:
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
    experiment = TuneExperiment(SweepFolder.of(out, sweep.name), sweep, EXPERIMENT, address=address, emit=emit)

    def build(exp: TuneExperiment, resuming: bool) -> tune.Tuner | None:
        todo = unfinished(sweep, exp.folder) if resuming else sweep.trials
        if resuming:
            emit(f"resuming the run in {exp.folder.uri}: {len(sweep.trials) - len(todo)} of {len(sweep.trials)} "
                 f"trials done or failed already, the others continue from their checkpoints")
        if not todo:
            return None
        progress = _progress(exp, resuming, emit, live, verbose)
        trainable = exp.trainable(put_shared_inputs(todo), 0.0 if verbose else REPORT_EVERY_S)
        return tune.Tuner(trainable, param_space={"trial": tune.grid_search(tune_units(sweep, pack, todo))},
                          tune_config=exp.tune_config(reuse_actors=not any(t.resources.fresh_process for t in todo)),
                          run_config=exp.run_config([progress]))

    resumed, results = experiment.run(overwrite, resume, build)
    failures = experiment.folder.failures()
    return SweepOutcome(
        root=experiment.folder.uri,
        trials=len(sweep.trials),
        failed={r.trial_id: f"{r.kind} at generation {r.generation}: {r.error}" for r in failures.itertuples()},
        nodes={m["trial_id"]: r.metrics.get("node_id") for r in results if r.metrics for m in members(r.config["trial"])},
        resumed=resumed,
        stopped_by=experiment.stopped_by,
        unfinished=tuple(c.trial_id for c in unfinished(sweep, experiment.folder)),
    )
