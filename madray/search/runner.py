"""Run a boundary search on Ray Tune: a `Searcher` proposes trials from the results so far.

Each evaluated (grid point, value, replicate batch) is an ordinary madray trial, run by the sweep
runner's trainable (madray.sweep) and written in the same Parquet layout; its trial id is
`<grid point's id>-<knob><value>-b<batch>`. The searcher lives in the driver: when a trial
completes it reads that trial's rows back, pools them with the value's other batches, and asks the
grid point's `BoundarySearch` what to run next. Grid points are searched side by side (one trial in
flight per grid point, both ends of the range at once at the start).

Resuming is re-deriving: given the same results the policy proposes the same trials, so a re-run
reads every trial already on disk instead of running it, and continues where the last run stopped
(an interrupted trial continues from its checkpoint). Tune's own experiment state is not needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402

from madray.config import KNOB_COLUMNS, TrialConfig
from madray.models import family_class
from madray.results.folder import SweepFolder
from madray.results.store import load_trial
from madray.search.policy import BoundarySearch
from madray.search.spec import SearchSweep, with_knob
from madray.search.statistic import estimate, pool
from madray.spec import Sweep, trial_from_dict, validate_trial
from madray.sweep.experiment import TuneExperiment, put_shared_inputs, trial_labels  # first: sets Ray's environment
from madray.sweep.pack import unit_config
from madray.sweep.progress import ProgressLines
from madray.trial import config_columns

EXPERIMENT = "search"
# Batch k of a value runs with seed + k·SEED_STRIDE: independent replicates, far from small gridded seeds.
SEED_STRIDE = 1_000_003
Item = tuple[str, float, int]  # (grid point's trial id, knob value, batch)


@dataclass
class SearchOutcome:
    root: str
    boundary: pd.DataFrame
    ran: list[str] = field(default_factory=list)  # trial ids Tune ran in this call
    reused: list[str] = field(default_factory=list)  # trial ids read from earlier runs' results


def _format(value: float) -> str:
    return f"{value:.10g}"


class GridShared(Mapping):
    """`Family.shared_inputs` of each grid point, looked up by any of its searched trials' ids."""

    def __init__(self, refs: dict[str, ray.ObjectRef]) -> None:
        self.refs = refs

    def __getitem__(self, trial_id: str) -> ray.ObjectRef:
        return self.refs["-".join(trial_id.split("-")[:2])]  # grid ids are t<index>-<digest>

    def __iter__(self) -> Iterator[str]:
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)


class BoundarySearcher(Searcher):
    """A Tune Searcher over every grid point of a `SearchSweep` (see the module docstring)."""

    def __init__(self, plan: SearchSweep, folder: SweepFolder, labels: dict[str, str], emit: Callable[[str], None]) -> None:
        super().__init__()
        self.plan, self.folder, self.labels, self.emit = plan, folder, labels, emit
        self.grid_labels = trial_labels(plan.sweep)
        s = plan.search
        self.bases = {cfg.trial_id: cfg for cfg in plan.sweep.trials}
        self.points = {tid: BoundarySearch(lo=float(s.range[0]), hi=float(s.range[1]), threshold=s.threshold,
                                           tolerance=s.tolerance, log=plan.log, integer=plan.integer,
                                           max_evaluations=s.max_evaluations, max_batches=plan.max_batches,
                                           above=s.admissible == "above") for tid in self.bases}
        self.queue: list[Item] = []
        self.running: dict[str, Item] = {}  # Tune's trial id -> item
        self.done: set[str] = set()
        self.ran: list[str] = []
        self.reused: list[str] = []

    # ------------------------------------------------------------------ trials
    def trial_id(self, item: Item) -> str:
        grid_tid, value, batch = item
        return f"{grid_tid}-{self.plan.search.knob}{_format(value)}-b{batch}"

    def config(self, item: Item) -> TrialConfig:
        """The grid point's config with the knob at `value`, batch `batch`'s seed and its own trial id."""
        grid_tid, value, batch = item
        base = self.bases[grid_tid]
        knob = self.plan.search.knob
        plain = with_knob(base.to_dict(), knob, int(value) if self.plan.integer else value)
        return validate_trial(trial_from_dict({**plain, "seed": base.seed + batch * SEED_STRIDE,
                                               "trial_id": self.trial_id(item)}))

    def _on_disk(self, item: Item) -> bool:
        tid = self.trial_id(item)
        files = (self.folder.generation_file(tid, self.bases[item[0]].generations), self.folder.failure_file(tid))
        return any(self.folder.is_file(f) for f in files)

    def _finish(self, item: Item, crashed: bool = False) -> None:
        grid_tid, value, batch = item
        ids = [self.trial_id((grid_tid, value, b)) for b in range(batch + 1)]
        failed = crashed or any(self.folder.is_file(self.folder.failure_file(t)) for t in ids)
        result = None if failed else estimate(pool([load_trial(self.folder, t) for t in ids]),
                                              self.plan.search.statistic, self.plan.search.level)
        self.points[grid_tid].finish(value, batch, result)

    # ------------------------------------------------------------------ the policy, per grid point
    def _fill(self) -> None:
        """Queue what each grid point wants next; trials found on disk are read instead of run."""
        for grid_tid, search in self.points.items():
            while grid_tid not in self.done:
                proposals = search.propose()
                if proposals is None:
                    self.done.add(grid_tid)
                    self.emit(self.describe(grid_tid))
                    break
                if not proposals:
                    break
                for value, batch in proposals:
                    search.start(value, batch)
                    item = (grid_tid, value, batch)
                    if self._on_disk(item):
                        self.reused.append(self.trial_id(item))
                        self._finish(item)
                    else:
                        self.queue.append(item)
                        self.labels[self.trial_id(item)] = (f"{self.grid_labels[grid_tid]} "
                                                            f"{self.plan.search.knob}={_format(value)} batch {batch}")

    def describe(self, grid_tid: str) -> str:
        row = self.row(grid_tid)
        where = self.grid_labels[grid_tid] or "the sweep"
        found = f"{row['knob']}* = {row['value']:.4g} in [{row['low']:.4g}, {row['high']:.4g}]; " \
            if math.isfinite(row["value"]) else ""
        return f"boundary of {grid_tid} ({where}): {found}{row['status']}, {row['evaluations']} evaluations"

    # ------------------------------------------------------------------ Searcher
    def suggest(self, trial_id: str) -> dict | str | None:
        self._fill()
        if self.queue:
            item = self.queue.pop(0)
            self.running[trial_id] = item
            self.ran.append(self.trial_id(item))
            return {"trial": unit_config((self.config(item),))}
        return Searcher.FINISHED if len(self.done) == len(self.points) and not self.running else None

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self._finish(self.running.pop(trial_id), crashed=error)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the search's state is the results on disk (see the module docstring)."""

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to restore: a re-run re-derives the search from the results on disk."""

    # ------------------------------------------------------------------ the answer
    def row(self, grid_tid: str) -> dict[str, Any]:
        """The boundary table's row of one grid point."""
        base, search = self.bases[grid_tid], self.points[grid_tid]
        s = self.plan.search
        knobs = {k: v for k, v in config_columns(base).items()
                 if (k in KNOB_COLUMNS or k.startswith("param_")) and k != s.knob and k != f"param_{s.knob.partition('.')[2]}"}
        value, low, high = search.boundary()
        ends = [search.estimates.get(v) for v in (search.lo, search.hi)]
        replicates = sum(search.batches.values()) * base.replicates
        return {"sweep": base.sweep, "point": grid_tid, **knobs, "knob": s.knob, "statistic": s.statistic,
                "threshold": s.threshold, "value": value, "low": low, "high": high, "status": search.status(),
                "evaluations": search.evaluations, "trial_generations": search.evaluations * base.generations,
                "replicate_generations": replicates * base.generations,
                "at_lo": ends[0].value if ends[0] else math.nan, "at_hi": ends[1].value if ends[1] else math.nan}

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([self.row(tid) for tid in self.points])


def _shared(plan: SearchSweep) -> GridShared | None:
    """Shared inputs per grid point, unless the searched knob changes them (then each trial makes its own)."""
    hi = plan.search.range[1]
    for base in plan.sweep.trials:
        cls = family_class(base.family)
        moved = trial_from_dict(with_knob(base.to_dict(), plan.search.knob, int(hi) if plan.integer else hi))
        if cls.shared_key(moved) != cls.shared_key(base):
            return None
    return GridShared(put_shared_inputs(plan.sweep.trials))


def run_search(
    plan: SearchSweep,
    out: str,
    *,
    address: str | None = None,
    overwrite: bool = False,
    resume: bool = False,
    emit: Callable[[str], None] = print,
    verbose: bool = False,
) -> SearchOutcome:
    """Search the boundary of every grid point of `plan`; results and `boundary.parquet` in `<out>/<name>/`."""
    sweep = plan.sweep
    # sweep.yaml holds the spec only: which trials run is decided as the search goes (each row holds its config)
    experiment = TuneExperiment(SweepFolder.of(out, sweep.name), sweep, EXPERIMENT,
                                recorded=Sweep(sweep.name, sweep.spec, ()), address=address, emit=emit)
    labels: dict[str, str] = {}
    searcher = BoundarySearcher(plan, experiment.folder, labels, emit)

    def build(exp: TuneExperiment, resuming: bool) -> tune.Tuner:
        if resuming:
            emit(f"resuming the search in {exp.folder.uri}: trials already there are read, not run")
        return tune.Tuner(exp.trainable(_shared(plan)),
                          tune_config=exp.tune_config(search_alg=searcher, num_samples=-1),
                          run_config=exp.run_config([ProgressLines(labels, sweep.metric_names, emit, verbose)]))

    experiment.run(overwrite, resume, build)
    table = searcher.table()
    experiment.folder.write_boundary(table)
    return SearchOutcome(root=experiment.folder.uri, boundary=table, ran=searcher.ran, reused=searcher.reused)
