"""What a sweep will cost, before it runs: a pilot of a few distinct trials and a per-generation cost model.

The pilot runs, in a child process killed at the time box, the first generations of the cheapest and
the most expensive trial of each family (writing their rows and checkpoints to a temporary folder,
as a real run does), with the BLAS/torch threads a trial gets under Ray: at least PILOT_GENERATIONS
each, and more while a trial has run for less than PILOT_TRIAL_S (cheap generations of a few
milliseconds are too noisy to fit from two). Per family it fits seconds per generation = a + b·w,
where w = `Family.work(cfg, n)` is the family's own count of the work in one generation that trains
on n samples; every generation of every trial is then priced from its loop's training-set size.
Wall time: the Tune trials the runner will make (cheap trials in packs, pack.py, longest first),
each to the first free of `workers` slots (what Tune does), plus Ray's start-up and Tune's costs
measured here (benchmarks/bench_plan.py prints how far off the prediction is).
"""

from __future__ import annotations

import heapq
import multiprocessing
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from madray.config import TrialConfig
from madray.loops import loop_class
from madray.malloc import apply_here
from madray.results.folder import SweepFolder
from madray.results.schema import file_schema, sweep_schema
from madray.seeding import Stream, rng
from madray.spec import Sweep
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.cost import FamilyCost, prior_seconds, trial_seconds, work
from madray.sweep.pack import make_units
from madray.trial import Trial

PILOT_S = 60.0
PILOT_GENERATIONS = 3  # the third is warm: its arrays reuse the pages the second one touched first
PILOT_TRIAL_S = 1.0
# Fixed costs of a run, measured on this 2-core machine (the planner cannot pilot them without Ray),
# quiet (load average 1.2): start_embedded_ray 3.7-4.1 s (ray.init and awaiting its prestarted workers);
# Tune's set-up, first actors and end ~1.1 s; ~0.1 s of a worker slot per Tune trial (start, stop,
# reports), from 2- and 40-trial sweeps of one-generation Gaussian trials run packed and unpacked.
# On a loaded machine (load average 14) the set-up took several times longer.
RAY_START_S = 4.0
TUNE_START_S = 1.1
TUNE_UNIT_S = 0.1


@dataclass(frozen=True)
class Measured:
    trial_id: str
    generation: int
    work: float
    seconds: float
    warm: bool = False  # no more work than an earlier generation of its trial: its memory was touched before


def _pilot_child(sweep: Sweep, trials: list[TrialConfig], queue) -> None:
    """Runs in the child: each trial's first generations (see the module doc), one message per generation."""
    apply_here()  # as in the Ray workers that will run them
    schema = sweep_schema(sweep.name, sweep.param_types(), sweep.metric_names)
    with tempfile.TemporaryDirectory() as out:
        folder = SweepFolder(out)
        for cfg in trials:
            with threadpool_limits(limits=max(1, int(cfg.resources.cpu))):
                _pilot_trial(cfg, folder, file_schema(schema), queue)
    queue.put(None)


def _pilot_trial(cfg: TrialConfig, folder: SweepFolder, schema, queue) -> None:
    # Not timed: the family's set-up (a real run computes shared inputs once, in the driver).
    trial = Trial(cfg, workdir=folder.work(cfg.trial_id))  # a command family's files: the pilot's temporary folder
    batch = trial.family.sample_real(1, rng(cfg.seed, 0, Stream.REAL_INITIAL))
    queue.put(("bytes", cfg.family, sum(np.asarray(v).nbytes for v in batch.values()) / cfg.replicates))
    spent, most = 0.0, 0.0
    while trial.generation < cfg.generations and (trial.generation < PILOT_GENERATIONS or spent < PILOT_TRIAL_S):
        start = time.perf_counter()
        rows = trial.step()
        folder.write_rows(cfg.trial_id, trial.generation, rows, schema)
        CheckpointStore(folder).save(cfg.trial_id, trial.state_dict())
        seconds = time.perf_counter() - start
        spent += seconds
        units = work(cfg, trial.generation)
        queue.put(Measured(cfg.trial_id, trial.generation, units, seconds, warm=units <= most))
        most = max(most, units)


def pilot_trials(sweep: Sweep) -> list[TrialConfig]:
    """The cheapest trial of each family, then the most expensive one (by total work units)."""
    by_family: dict[str, list[TrialConfig]] = {}
    for cfg in sweep.trials:
        by_family.setdefault(cfg.family, []).append(cfg)
    total = {cfg.trial_id: sum(work(cfg, t) for t in range(1, cfg.generations + 1)) for cfg in sweep.trials}
    cheapest = [min(ts, key=lambda c: total[c.trial_id]) for ts in by_family.values()]
    dearest = [max(ts, key=lambda c: total[c.trial_id]) for ts in by_family.values()]
    return list({c.trial_id: c for c in cheapest + dearest}.values())


def run_pilot(sweep: Sweep, seconds: float = PILOT_S) -> tuple[list[Measured], dict[str, float], bool]:
    """(measurements, bytes per sample per family, finished within the time box)."""
    ctx = multiprocessing.get_context("fork")  # the child inherits the imported sweep and families
    queue = ctx.Queue()
    child = ctx.Process(target=_pilot_child, args=(sweep, pilot_trials(sweep), queue), daemon=True)
    deadline = time.monotonic() + seconds
    child.start()
    measured, sizes, finished = [], {}, False
    try:
        while time.monotonic() < deadline:
            try:
                item = queue.get(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
            except Exception:  # queue.Empty: keep waiting until the deadline
                continue
            if item is None:
                finished = True
                break
            if isinstance(item, Measured):
                measured.append(item)
            else:
                sizes[item[1]] = item[2]
    finally:
        child.kill()
        child.join()
    return measured, sizes, finished


# --------------------------------------------------------------------------- the cost model
def fit_family(points: list[Measured]) -> FamilyCost:
    """Least squares of seconds on work (a, b >= 0); one distinct work value: proportional.

    Warm generations (their trial's memory touched before, as in every generation of a long run
    but the first ones) are used alone when they span two work values. Otherwise, with 3 or more
    points the family's first is left out: it pays the once-per-process costs (lazy imports, first
    calls into BLAS, FAISS or torch) that a long-lived Ray worker pays once.
    """
    warm = [p for p in points if p.warm]
    if len({p.work for p in warm}) >= 2:
        points = warm
    else:
        points = points[1:] if len(points) >= 3 else points
    w = np.array([p.work for p in points])
    s = np.array([p.seconds for p in points])
    if len(set(w)) < 2:
        return FamilyCost(0.0, float(s.mean() / max(w.mean(), 1e-12)), len(points))
    b, a = np.polyfit(w, s, 1)
    if a < 0 or b < 0:  # noise on a steep or a flat family: keep the sign physical
        b, a = (float(s.mean() / w.mean()), 0.0) if a < 0 else (0.0, float(s.mean()))
    return FamilyCost(float(a), float(b), len(points))


def memory_bytes(cfg: TrialConfig, bytes_per_sample: float) -> float:
    """Bytes of the samples a trial holds at its largest (`Loop.samples_held`, the count the parse-time
    memory check uses), at the pilot's measured bytes per sample."""
    return cfg.replicates * bytes_per_sample * loop_class(cfg.loop).samples_held(cfg)


def makespan(durations: list[float], workers: int) -> float:
    """Trials in order, each to the first free worker slot (Tune's FIFO scheduling)."""
    slots = [0.0] * max(1, workers)
    for d in durations:
        heapq.heappush(slots, heapq.heappop(slots) + d)
    return max(slots)


@dataclass
class Plan:
    sweep: str
    grid_points: int
    trials: int
    trial_generations: int
    workers: int
    cpu_hours: float
    wall_s: float
    gpu_hours: float  # trial time × resources.gpu (a 0.25-GPU trial holds a quarter of a GPU)
    pilot_s: float
    pilot_complete: bool
    memory_per_trial_mb: float  # the largest trial's
    trials_s: float  # the trials' share of the wall time: `workers` slots filled with the Tune trials
    tune_trials: int = 0  # the Tune trials the runner will make of them (cheap trials in packs)
    families: dict[str, dict[str, float]] = field(default_factory=dict)  # family -> a, b, points
    dominant: list[dict[str, Any]] = field(default_factory=list)  # the most expensive trials
    unpriced: list[str] = field(default_factory=list)  # families the pilot did not reach in its time box


def make_plan(sweep: Sweep, workers: int, pilot_s: float = PILOT_S, top: int = 5) -> Plan:
    start = time.monotonic()
    measured, sizes, complete = run_pilot(sweep, pilot_s)
    pilot_time = time.monotonic() - start
    family_of = {c.trial_id: c.family for c in sweep.trials}
    costs = {f: fit_family([m for m in measured if family_of[m.trial_id] == f])
             for f in sweep.families if any(family_of[m.trial_id] == f for m in measured)}
    priced = [c for c in sweep.trials if c.family in costs]
    seconds = {c.trial_id: trial_seconds(c, costs[c.family]) for c in priced}
    cpu = {c.trial_id: c.resources.cpu for c in sweep.trials}
    gpu = {c.trial_id: c.resources.gpu for c in sweep.trials}
    dominant = sorted(priced, key=lambda c: -seconds[c.trial_id])[:top]
    # the runner's own units (it packs by its prior estimate), each priced from the pilot's fit
    units = make_units(priced, lambda resources: workers, prior_seconds)
    unit_s = [sum(seconds[c.trial_id] for c in unit) + TUNE_UNIT_S for unit in units]
    trials_s = makespan(unit_s, workers)
    return Plan(
        sweep=sweep.name, grid_points=sweep.n_grid_points, trials=len(sweep.trials),
        trial_generations=sum(c.generations for c in sweep.trials), workers=workers,
        cpu_hours=(sum(seconds[t] * cpu[t] for t in seconds) + TUNE_UNIT_S * len(units)) / 3600,
        gpu_hours=sum(seconds[t] * gpu[t] for t in seconds) / 3600,
        trials_s=trials_s, tune_trials=len(units), wall_s=RAY_START_S + TUNE_START_S + trials_s,
        pilot_s=pilot_time, pilot_complete=complete,
        memory_per_trial_mb=max((memory_bytes(c, sizes.get(c.family, 0.0)) for c in sweep.trials), default=0) / 2**20,
        families={f: {"a_s": c.a, "b_s_per_work": c.b, "pilot_generations": c.points} for f, c in costs.items()},
        dominant=[{"trial_id": c.trial_id, "family": c.family, "loop": c.loop, "generations": c.generations,
                   "seconds": seconds[c.trial_id]} for c in dominant],
        unpriced=[f for f in sweep.families if f not in costs],
    )
