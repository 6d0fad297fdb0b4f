"""A trial: all generations and replicates of one grid point, as a plain function.

`run_trial(config) -> rows` is what Ray Tune runs; it can be called (and unit
tested) without Ray. `Trial` exposes the same loop one generation at a time so
that runners can report progress and write results per generation.
"""

from __future__ import annotations

import json
import math
from collections import deque
from typing import Any

import numpy as np

from madray.batch import Batch
from madray.config import TrialConfig, config_values
from madray.curate import Draw, curated_sample, curation_metrics
from madray.curate import metric_names as curate_metric_names
from madray.loops import LoopData, loop_class
from madray.models import make_family
from madray.models.base import Metrics, State
from madray.seeding import Stream, rng


def config_columns(cfg: TrialConfig) -> dict[str, Any]:
    """The trial's config as flat columns; family params become `param_<name>` (a list, such as the
    command family's argv, as its JSON text: the results schema stores it as a string)."""
    flat = config_values(cfg)
    params = cfg.to_dict()["params"] or {}
    flat.update({f"param_{k}": json.dumps(v) if isinstance(v, list) else v for k, v in params.items()})
    return flat



class Trial:
    """The self-consuming loop of one grid point, advanced one generation per `step`.

    `workdir`: the trial's own folder (`SweepFolder.work`), handed to the family; None outside a sweep.
    """

    def __init__(self, cfg: TrialConfig, shared: Any = None, workdir: str | None = None) -> None:
        self.cfg = cfg
        self.family = make_family(cfg, shared, workdir)
        self.loop = loop_class(cfg.loop)
        self.generation = 0
        self.state: State | None = None
        self.real_initial: Batch | None = None
        self.synthetic: deque[Batch] = deque(maxlen=self.loop.memory(cfg))
        self.previous: deque[State] = deque(maxlen=self.loop.models_kept(cfg) - 1)  # earlier models, oldest first
        self.artifacts: dict[str, bytes] = {}  # the last generation's files (sample grids, ...)
        self._columns = config_columns(cfg)

    @property
    def done(self) -> bool:
        return self.generation >= self.cfg.generations

    def _training_set(self, t: int) -> Batch:
        seed = self.cfg.seed
        if t == 1:
            self.real_initial = self.family.sample_real(self.cfg.n_ini, rng(seed, 1, Stream.REAL_INITIAL))
            return self.real_initial
        fresh_rng = rng(seed, t, Stream.REAL_FRESH)
        data = LoopData(
            real_initial=self.real_initial,
            fresh_real=lambda n: self.family.sample_real(n, fresh_rng),
            synthetic=self.synthetic,
            rng=rng(seed, t, Stream.SUBSAMPLE),
            real_of=lambda j, n: self.family.sample_real(n, rng(seed, j, Stream.REAL_FRESH)),
        )
        return self.loop.build(self.cfg, t, data)

    def step(self, evaluate: bool = True) -> list[dict[str, Any]]:
        """Train generation t on the loop's training set, evaluate it, sample for t+1.

        `evaluate=False` skips the metrics and artifacts (no rows): the same models, for a figure
        that only needs them (every draw is seeded from (seed, generation, stream))."""
        t = self.generation + 1
        seed = self.cfg.seed
        train = self._training_set(t)
        self.state = self.family.fit(train, self.state, rng(seed, t, Stream.FIT))
        if evaluate:
            metrics = self.family.evaluate(self.state, rng(seed, t, Stream.EVALUATE))
            self.artifacts = self.family.artifacts(self.state, rng(seed, t, Stream.ARTIFACTS))
        if t < self.cfg.generations:
            batch, curation = self._synthetic(t)
            self.synthetic.append(batch)
            self.previous.append(self.state)
        else:  # nothing is sampled after the last generation: curation metrics are NaN
            curation = curation_metrics(self.cfg.replicates)
        self.generation = t
        return self.rows(t, {**metrics, **curation}) if evaluate else []

    def _synthetic(self, t: int) -> tuple[Batch, Metrics]:
        """Generation t's samples for the loop, after the trial's curation, and its curation metrics.

        The loop draws from the models it keeps (newest first; the memory loop keeps the last K) and
        `mix`es the draws; the curation metrics are those of the newest model's draw.
        """
        seed, n = self.cfg.seed, self.loop.n_synthetic(self.cfg)
        sample_rng, curate_rng = rng(seed, t, Stream.SYNTHETIC), rng(seed, t, Stream.CURATE)
        curated = [curated_sample(self.cfg, Draw(self.family, model, self.cfg.lam, sample_rng, curate_rng), n)
                   for model in [self.state, *reversed(self.previous)]]
        return self.loop.mix(self.cfg, [batch for batch, _ in curated], rng(seed, t, Stream.MEMORY)), curated[0][1]

    def pool_generations(self) -> list[int]:
        """The generation each batch of the synthetic pool held in a checkpoint was sampled from, oldest
        first (none when the checkpoint holds the model to draw it from again, see `redraws`)."""
        if self.redraws():
            return []
        last = min(self.generation, self.cfg.generations - 1)  # nothing is sampled after the last generation
        return list(range(last - len(self.synthetic) + 1, last + 1))

    def redraws(self) -> bool:
        """Whether a checkpoint holds the model instead of the synthetic pool: the pool is one batch,
        drawn uncurated from the newest model by a family whose draws are exact anywhere, so
        `_synthetic` gives the same numbers again (at the largest Fig. 10 cell that saves writing
        and hashing 0.8 GB per generation, for one draw at resume)."""
        return (self.family.redraws_exactly and self.loop.memory(self.cfg) == 1
                and self.loop.models_kept(self.cfg) == 1 and self.cfg.curate.kind == "none")

    def state_dict(self) -> dict[str, Any]:
        """Everything a later process needs to continue after generation `self.generation`.

        No RNG state: every draw is seeded from (seed, generation, stream), see madray/seeding.py.
        """
        redraw = self.redraws()
        return {
            "generation": self.generation,
            "state": dict(self.state or {}),
            "real_initial": dict(self.real_initial or {}),
            "synthetic": [] if redraw else [dict(b) for b in self.synthetic],
            "previous": [dict(s) for s in self.previous],
            **({"redraw": True} if redraw else {}),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Inverse of `state_dict`: the next `step` computes generation saved["generation"] + 1."""
        self.generation = int(saved["generation"])
        self.state = dict(saved["state"]) or None
        self.real_initial = dict(saved["real_initial"]) or None
        self.synthetic = deque(saved["synthetic"], maxlen=self.loop.memory(self.cfg))
        self.previous = deque(saved.get("previous", []), maxlen=self.loop.models_kept(self.cfg) - 1)
        if bool(saved.get("redraw", False)) and 0 < self.generation < self.cfg.generations:
            self.synthetic.append(self._synthetic(self.generation)[0])

    def rows(self, t: int, metrics: Metrics) -> list[dict[str, Any]]:
        wanted = [*(self.cfg.metrics or self.family.metric_names), *curate_metric_names([self.cfg])]
        values = {m: np.asarray(metrics[m], dtype=float).reshape(-1) for m in wanted}
        return [
            {**self._columns, "replicate": r, "generation": t, **{m: float(v[r]) for m, v in values.items()}}
            for r in range(self.cfg.replicates)
        ]


def run_trial(cfg: TrialConfig, shared: Any = None, workdir: str | None = None) -> list[dict[str, Any]]:
    """Run every generation of one grid point; one row per (replicate, generation).

    `shared` is the family's `shared_inputs(cfg)` if the caller already has it; `workdir` the
    trial's own folder for a family that keeps files (the command family).
    """
    trial = Trial(cfg, shared, workdir)
    rows: list[dict[str, Any]] = []
    while not trial.done:
        rows.extend(trial.step())
    return rows


def summarize(rows: list[dict[str, Any]], metric_names: tuple[str, ...]) -> dict[str, float]:
    """Replicate means of each metric (for progress reports); NaN-safe."""
    out = {}
    for m in metric_names:
        vals = [r[m] for r in rows if m in r and r[m] is not None and not math.isnan(r[m])]
        out[m] = float(np.mean(vals)) if vals else float("nan")
    return out
