"""Base class of the torch families: one set of modules per replicate, trained in a Python loop.

Deep models do not batch across replicates the way the analytic families do; a trial with R
replicates fits R independent models one after another (each seeded from the generation's
numpy generator), and stacks their weights into one state with a leading replicate axis.
A subclass says how to build its modules, train them on one replicate's data, and generate
from them; fitting, warm starts, seeding, chunked sampling and states are handled here.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from madray.batch import Batch
from madray.config import TrialConfig, require
from madray.models.base import Family, State
from madray.torch_utils import (
    Tensors,
    configure,
    load_modules,
    module_state,
    replicate,
    seeded,
    seeds,
    stack_states,
    to_device,
)

SAMPLE_CHUNK = 500  # images generated per forward batch: bounds activation memory


@dataclass(frozen=True)
class TorchParams:
    """Knobs every torch family has; a family's Params extends this (and may change defaults)."""

    family: ClassVar[str] = "torch"  # for error messages: params.<family>.<key>
    positive: ClassVar[tuple[str, ...]] = ("steps", "batch_size", "lr", "n_eval", "n_ref", "k")

    steps: int = 1000  # gradient steps per generation (the per-generation training budget)
    epochs: float | None = None  # None: `steps` per generation; else ceil(epochs · training-set size / batch_size)
    batch_size: int = 64
    lr: float = 1e-3
    warm_start: bool = False  # initialise generation t from t-1's weights instead of from scratch
    n_eval: int = 1000  # generated samples per replicate for the metrics
    n_ref: int = 1000  # real samples in the metrics' reference set
    k: int = 5  # nearest neighbours for precision/recall/density/coverage (MAD: 5)

    def __post_init__(self) -> None:
        for key in self.positive:
            value = getattr(self, key)
            require(value > 0, f"params.{self.family}.{key}", value, "must be > 0")
        for key in ("n_eval", "n_ref"):
            value = getattr(self, key)
            require(value > self.k, f"params.{self.family}.{key}", value,
                    f"must exceed k = {self.k} (the k-th neighbour excludes the point itself)")
        require(self.epochs is None or self.epochs > 0, f"params.{self.family}.epochs", self.epochs,
                "must be > 0, or null for a fixed number of steps")

    def steps_for(self, n: int) -> int:
        """Gradient steps for one generation trained on n samples.

        `epochs` unset: `steps`, whatever n (every loop gets the same compute per generation).
        `epochs` set: ceil(epochs · n / batch_size) minibatches, so compute follows the data:
        accumulate, whose training set grows by n_s a generation, trains proportionally longer.
        """
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(self.epochs * n / self.batch_size))


class TorchFamily(Family):
    """Params extend TorchParams; see madray/models/vae.py for a small example."""

    @classmethod
    def work(cls, cfg, n):
        # minibatch steps (a fixed budget, or with `epochs` proportional to n) plus sampling, per sample
        return cfg.replicates * (cfg.params.steps_for(n) * cfg.params.batch_size + n)

    def __init__(self, cfg: TrialConfig, shared: Any = None) -> None:
        super().__init__(cfg, shared)
        self.device = configure(cfg)

    @abstractmethod
    def build(self) -> dict[str, nn.Module]:
        """Freshly initialised modules (called under a seeded torch RNG)."""

    @abstractmethod
    def train(self, modules: dict[str, nn.Module], data: Tensors, from_scratch: bool) -> None:
        """Train one replicate's modules (already on `self.device`) on its training set."""

    @abstractmethod
    def generate(self, modules: dict[str, nn.Module], n: int, lam: float) -> Tensors:
        """n samples with sampling bias λ, as tensors whose first axis is the sample."""

    # ------------------------------------------------------------------ Family API
    def fit(self, data: Batch, previous: State | None, rng: np.random.Generator) -> State:
        warm = bool(self.params.warm_start) and previous is not None
        states = []
        for r, seed in enumerate(seeds(rng, self.replicates)):
            with seeded(seed, self.device):
                modules = self.modules(replicate(previous, r) if warm else None)
                self.train(modules, to_device({k: v[r] for k, v in data.items()}, self.device), from_scratch=not warm)
            states.append(module_state(modules))
        return stack_states(states)

    def sample(self, state: State, n: int, lam: float, rng: np.random.Generator) -> Batch:
        per_replicate = [self.sample_replicate(state, r, n, lam, seed) for r, seed in enumerate(seeds(rng, self.replicates))]
        return {k: np.stack([p[k] for p in per_replicate]) for k in per_replicate[0]}

    # ------------------------------------------------------------------ helpers
    def train_steps(self, data: Tensors) -> int:
        """This generation's gradient steps on one replicate's training set (see TorchParams.steps_for)."""
        return self.params.steps_for(len(next(iter(data.values()))))

    def modules(self, weights: Tensors | None = None) -> dict[str, nn.Module]:
        """Modules on the trial's device, initialised fresh or loaded from one replicate's weights."""
        modules = {name: m.to(self.device) for name, m in self.build().items()}
        if weights is not None:
            load_modules(modules, weights)
        return modules

    def artifact_samples(self, state: State, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """n samples of replicate 0 drawn with the trial's λ, for the files kept beside the results."""
        return self.sample_replicate(state, 0, n, self.cfg.lam, seeds(rng, 1)[0])

    def sample_replicate(self, state: State, r: int, n: int, lam: float, seed: int) -> dict[str, np.ndarray]:
        """n samples of replicate r's model, seeded by `seed`."""
        with seeded(seed, self.device), torch.no_grad():
            return self.generate_chunked(self.modules(replicate(state, r)), n, lam)

    def generate_chunked(self, modules: dict[str, nn.Module], n: int, lam: float) -> dict[str, np.ndarray]:
        """`generate` in chunks of SAMPLE_CHUNK samples, as numpy arrays."""
        for m in modules.values():
            m.eval()
        sizes = [min(SAMPLE_CHUNK, n - i) for i in range(0, n, SAMPLE_CHUNK)] or [0]
        chunks = [self.generate(modules, size, lam) for size in sizes]
        return {k: torch.cat([c[k] for c in chunks]).cpu().numpy() for k in chunks[0]}
