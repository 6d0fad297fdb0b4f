"""What a model family is.

A family knows its real data, how to fit a model to a training batch, how to
sample from a fitted model with sampling bias λ, and which metrics it reports.
Analytic families work on whole replicate batches at once: arrays of shape
(replicates, n, ...), one model per replicate.

A fitted state is a dict of numpy arrays (or tensors) so that it can be
checkpointed without pickle.
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from madray.batch import Batch
from madray.config import ConfigError, TrialConfig

State = dict[str, Any]
# A fit or a draw makes transient copies of the batch it works on (the centred data of Eq. 1, the
# standard normals and the result of a draw, EM's log-densities beside its responsibilities), each
# the size of the samples a loop holds or smaller; 3 covers the tracemalloc peaks measured in
# tests/test_safety.py for every analytic family and loop with a margin.
MEMORY_FACTOR = 3
Metrics = dict[str, np.ndarray]  # metric name -> one value per replicate


@dataclass(frozen=True)
class NoParams:
    """For families without parameters."""


class Family(ABC):
    """Base class of model families; see madray/models/gaussian.py for a small example."""

    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    metric_names: ClassVar[tuple[str, ...]]
    # The optional knobs (madray.config.OPTIONAL_KNOBS: n_r, n_s, K, p) the family itself reads, beside
    # those its loop reads; none of the shipped families does. A family reads all of its own `Params`
    # and none of another family's (those are not in its trials' configs).
    uses: ClassVar[tuple[str, ...]] = ()
    # The trial's own folder (madray.models.make_family sets it; None outside a sweep): where a family
    # that keeps files (madray/models/command.py) writes them.
    workdir: str | None = None
    memory_factor: ClassVar[float] = MEMORY_FACTOR  # peak / held samples; a family with fewer copies says so
    # `sample` is a pure function of (state, n, λ, rng), the same numbers in any process: a checkpoint
    # may then hold the model and draw its samples again on resume instead of storing them
    # (madray.trial.Trial.state_dict). Not for torch families (kernels may differ by device and build).
    redraws_exactly: ClassVar[bool] = False

    def __init__(self, cfg: TrialConfig, shared: Any = None) -> None:
        self.cfg = cfg
        self.params = cfg.params
        self.replicates = cfg.replicates
        self.wanted = frozenset(cfg.metrics or self.metric_names)  # compute only what the sweep asks for
        self.shared = shared if shared is not None else self.shared_inputs(cfg)

    @classmethod
    def shared_key(cls, cfg: TrialConfig) -> tuple:
        """Trials with equal keys can share one `shared_inputs` object."""
        return (cfg.family, cfg.params)

    @classmethod
    def shared_inputs(cls, cfg: TrialConfig) -> Any:
        """Heavy read-only inputs every trial with the same `shared_key` needs (a real data pool,
        a metrics reference set with its FAISS index). A sweep runner computes this once and
        hands it to every trial (through the Ray object store); without one, each family
        instance computes its own. Must be picklable."""
        return None

    @classmethod
    def work(cls, cfg: TrialConfig, n: int) -> float:
        """Work units of one generation that fits on n samples per replicate and draws from the fit.
        Only the shape matters: the planner (madray/sweep/plan.py) fits seconds = a + b·work per family."""
        return cfg.replicates * n

    @classmethod
    def min_train_size(cls, params: Any) -> int:
        """Smallest training set a fit accepts."""
        return 1

    @classmethod
    def floats_per_sample(cls, params: Any) -> int:
        """float64 numbers a fit keeps per training sample (d for a d-dimensional point)."""
        return 1

    @classmethod
    def memory_bytes(cls, cfg: TrialConfig, samples: int) -> int:
        """Estimated peak memory of one trial that holds `samples` samples per replicate at once:
        samples × floats per sample × replicates × 8 bytes × `memory_factor`. Model weights and
        activations of the deep families are not counted (they do not grow with the data)."""
        return int(samples * cls.floats_per_sample(cfg.params) * cfg.replicates * 8 * cls.memory_factor)

    @classmethod  # noqa: B027 - optional: most families check nothing more
    def validate(cls, cfg: TrialConfig) -> None:
        """Family-specific config checks; raise ConfigError."""

    @abstractmethod
    def sample_real(self, n: int, rng: np.random.Generator) -> Batch:
        """n real samples per replicate."""

    @abstractmethod
    def fit(self, data: Batch, previous: State | None, rng: np.random.Generator) -> State:
        """Fit one model per replicate; `previous` is generation t-1's state (for warm starts)."""

    @abstractmethod
    def sample(self, state: State, n: int, lam: float, rng: np.random.Generator) -> Batch:
        """n samples per replicate from the fitted models with sampling bias λ."""

    @abstractmethod
    def evaluate(self, state: State, rng: np.random.Generator) -> Metrics:
        """The metrics in `self.wanted` (at least), one value per replicate."""

    def evaluation_sample(self, state: State, rng: np.random.Generator) -> Batch:
        """The samples a sample-based `evaluate` scores: `params.n_eval` per replicate, drawn with
        the trial's λ as the loop draws them. `evaluate` and the plots (GMM samples per generation)
        both call this with the EVALUATE stream, so a figure shows the very points that were scored."""
        return self.sample(state, self.params.n_eval, self.cfg.lam, rng)

    def artifacts(self, state: State, rng: np.random.Generator) -> dict[str, bytes]:
        """Files to keep beside this generation's results, name -> content (e.g. a PNG sample grid)."""
        return {}

    # ------------------------------------------------------------------ optional oracles (madray/curate)
    # A family that does not provide one is refused at parse time for the curations that need it.
    @classmethod
    def provides(cls, method: str) -> bool:
        """Whether the family has the optional oracle `method` ("oracle_score" or "correct")."""
        return getattr(cls, method) is not getattr(Family, method)

    def oracle_score(self, batch: Batch) -> np.ndarray:
        """(replicates, n) score of each sample under the truth, higher = better (verify, select)."""
        raise NotImplementedError(f"family {self.name!r} has no oracle score")

    def correct(self, batch: Batch, state: State, gamma: float) -> Batch:
        """The samples of `state`'s model moved towards the truth by strength γ ∈ [0, 1] (correct)."""
        raise NotImplementedError(f"family {self.name!r} has no correction")


def _contract_problems(cls: Any) -> list[str]:
    """What `cls` lacks to be a model family, one phrase each (empty: it is one)."""
    if not (inspect.isclass(cls) and issubclass(cls, Family)):
        return [f"{cls!r} is not a subclass of madray.Family"]
    problems = []
    names = getattr(cls, "metric_names", None)
    if not (isinstance(names, tuple) and names and all(isinstance(n, str) for n in names)):
        problems.append("`metric_names` must be declared as a non-empty tuple of metric names (str)")
    params = cls.Params
    if not (inspect.isclass(params) and dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen):
        problems.append("`Params` must be a frozen dataclass (@dataclass(frozen=True))")
    elif any(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
             for f in dataclasses.fields(params)):
        problems.append("every field of `Params` needs a default")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        problems.append(f"methods not implemented: {', '.join(missing)}")
    if not isinstance(getattr(cls, "name", None), str):
        problems.append("`name` must be declared (a str)")
    return problems


def check_contract(cls: Any, where: str) -> type[Family]:
    """`cls` if it is a complete model family, else a ConfigError naming everything it lacks."""
    problems = _contract_problems(cls)
    if problems:
        raise ConfigError(f"{where}: not a madray model family: {'; '.join(problems)} (docs/families.md)")
    return cls
