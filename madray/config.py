"""Config types and checks: the frozen `TrialConfig`, typed coercion, `require`.

The bottom layer: it imports nothing else from madray, so loops, models and everything
above them can use it. Parsing a sweep file against the loop and model registries lives
one layer up, in `madray.spec`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from madray.errors import ConfigError, brief

# --------------------------------------------------------------------------- generic parsing
# Floats must be finite (YAML `.inf`, `.nan`, `1.0e+400`), except a knob annotated `ExtendedFloat`,
# whose infinities mean something (a threshold of -inf accepts everything, beta = inf picks the
# best); NaN is refused everywhere.
INFINITY_ALLOWED = "±inf allowed"
ExtendedFloat = typing.Annotated[float, INFINITY_ALLOWED]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(tp)
        if INFINITY_ALLOWED in extras and isinstance(value, float) and math.isinf(value):
            return value
        return _coerce(value, base, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where} = {brief(value)}: expected {' or '.join(_type_name(a) for a in args)}")
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} = {brief(value)}: expected a list")
        (item_tp, _) = typing.get_args(tp)
        return tuple(_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):  # YAML `.inf`, `.nan` and `1e400` (which parses as inf)
            raise ConfigError(f"{where} = {brief(value)}: expected a finite number")
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # YAML "1e4" parses as a float
    if tp in (int, str, bool) and (type(value) is tp):
        return value
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, where)
    raise ConfigError(f"{where} = {brief(value)}: expected {_type_name(tp)}, got {type(value).__name__}")


def from_mapping(cls: type, data: Any, where: str) -> Any:
    """Build the frozen dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {brief(data)}")
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {brief(unknown[0])}; allowed keys: {', '.join(names)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise ConfigError(f"{where}: {e}") from None


def to_plain(obj: Any) -> Any:
    """Dataclasses and tuples -> dicts and lists (YAML/JSON friendly)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise a ConfigError naming the key, its value and what is allowed."""
    if not ok:
        raise ConfigError(f"{key} = {brief(value)} is not allowed: {allowed}")


# --------------------------------------------------------------------------- trial config
@dataclass(frozen=True)
class Resources:
    """Per-trial resources handed to Ray Tune.

    `gpu` may be a fraction (0.25: four such trials share one GPU). `fresh_process`: the trial runs
    in a worker process of its own, which exits when it ends (Tune's `reuse_actors` is off for the
    sweep, and the trial is never packed with others), so the memory it held, a GPU's included, is
    released; a reused actor keeps its process, and CUDA's cached memory with it, across trials.
    """

    cpu: float = 1.0
    gpu: float = 0.0
    fresh_process: bool = False

    def __post_init__(self) -> None:
        require(self.cpu > 0, "resources.cpu", self.cpu, "must be > 0")
        require(self.gpu >= 0, "resources.gpu", self.gpu, "must be >= 0")
        require(self.gpu <= 1 or float(self.gpu).is_integer(), "resources.gpu", self.gpu,
                "a fraction of one GPU (<= 1) or a whole number of GPUs (Ray cannot split a trial over fractions of several)")


@dataclass(frozen=True)
class Curate:
    """The curation stage between sampling and training (madray/curate, docs/curation.md).

    kind `none` leaves the loop as it is; `verify` keeps samples a noisy oracle accepts (Feng et
    al. 2024), `select` keeps one of `candidates` per slot by a Bradley–Terry choice on the oracle
    score (Ferbach et al. 2024), `correct` moves samples towards the truth by `gamma` (Gillman et
    al. 2024). `USES` lists the knobs each kind reads; the others do not change its numbers.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("none", "verify", "select", "correct")
    USES: ClassVar[dict[str, tuple[str, ...]]] = {
        "none": (),
        "verify": ("threshold", "keep", "noise", "flip", "cap"),
        "select": ("candidates", "beta", "noise"),
        "correct": ("gamma",),
    }

    kind: str = "none"
    threshold: ExtendedFloat = -math.inf  # verify: accept when the (noisy) oracle score >= threshold
    keep: float = 1.0  # verify: accept the best `keep` fraction of a first draw of n_s / keep candidates
    noise: float = 0.0  # verify, select: s.d. of Gaussian noise added to the oracle score
    flip: float = 0.0  # verify: probability that each accept/reject decision is flipped
    cap: float = 10.0  # verify: at most cap · n_s candidates drawn per replicate and generation
    candidates: int = 4  # select: K candidates per kept sample
    beta: ExtendedFloat = 1.0  # select: P(choose i) ∝ exp(beta · score_i); inf = best of K
    gamma: float = 0.0  # correct: strength in [0, 1]; 0 = no correction, 1 = samples of the truth

    def __post_init__(self) -> None:
        require(self.kind in self.KINDS, "curate.kind", self.kind, f"one of {', '.join(self.KINDS)}")
        require(0.0 < self.keep <= 1.0, "curate.keep", self.keep, "the keep fraction must be in (0, 1]")
        require(self.noise >= 0, "curate.noise", self.noise, "the score noise s.d. must be >= 0")
        require(0.0 <= self.flip <= 1.0, "curate.flip", self.flip, "the flip probability must be in [0, 1]")
        require(self.cap >= 1, "curate.cap", self.cap, "the candidate budget is a multiple of n_s and must be >= 1")
        require(self.candidates >= 1, "curate.candidates", self.candidates, "select needs K >= 1 candidates")
        require(self.beta >= 0, "curate.beta", self.beta, "the choice temperature must be >= 0 (inf = best of K)")
        require(0.0 <= self.gamma <= 1.0, "curate.gamma", self.gamma, "the correction strength γ must be in [0, 1]")
        require(not math.isnan(self.threshold) and self.threshold < math.inf, "curate.threshold", self.threshold,
                "a number or -.inf (accept every score)")
        if self.kind == "verify":
            rules = int(self.threshold > -math.inf) + int(self.keep < 1.0)
            require(rules == 1, "curate", {"threshold": self.threshold, "keep": self.keep},
                    "verify needs exactly one rule: a finite threshold or a keep fraction < 1")


@dataclass(frozen=True)
class TrialConfig:
    """One grid point: everything `run_trial` needs, nothing it does not.

    Generation 1 is trained on `n_ini` real samples; generation t >= 2 on the
    training set the loop builds from real data and earlier generations' samples.
    """

    family: str
    loop: str
    params: Any = None  # the family's frozen Params dataclass
    generations: int = 10
    replicates: int = 10
    seed: int = 0
    n_ini: int = 100
    n_r: int = 0
    n_s: int = 100
    lam: float = 1.0
    K: int = 1
    p: float = 0.5
    metrics: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)
    curate: Curate = field(default_factory=Curate)
    sweep: str = "sweep"
    trial_id: str = ""

    def __post_init__(self) -> None:
        require(self.generations >= 1, "generations", self.generations, "must be >= 1")
        require(self.replicates >= 1, "replicates", self.replicates, "must be >= 1")
        require(self.n_ini >= 1, "n_ini", self.n_ini, "must be >= 1")
        require(self.n_r >= 0, "n_r", self.n_r, "must be >= 0")
        require(self.n_s >= 0, "n_s", self.n_s, "must be >= 0")
        require(self.lam > 0, "lam", self.lam, "the sampling bias λ must be > 0 (1 = unbiased)")
        require(self.K >= 1, "K", self.K, "the memory K counts generations and must be >= 1")
        require(0.0 <= self.p <= 1.0, "p", self.p, "the real fraction p must be in [0, 1]")
        require(self.seed >= 0, "seed", self.seed, "must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


def grid_values(cfg: TrialConfig) -> dict[str, Any]:
    """Every knob of `cfg` (plain values) under the name a grid axis gives it too: family parameters
    as `<family>.<param>`, curation knobs as `curate.<key>`."""
    plain = cfg.to_dict()
    return {**plain, **{f"{cfg.family}.{k}": v for k, v in (plain["params"] or {}).items()},
            **{f"curate.{k}": v for k, v in plain["curate"].items()}}


# --------------------------------------------------------------------------- which knobs a trial reads
# Knobs every trial reads whatever its loop and family (madray/trial.py): generation 1 trains on n_ini
# real samples, every draw is seeded from `seed`, every sample is drawn with λ, and the family, its
# params, metrics, generations and replicates say what runs; `curate` (None: no curation) filters or
# corrects every generation's synthetic samples. `resources` only places the trial.
TRIAL_READS: tuple[str, ...] = (
    "family", "loop", "params", "generations", "replicates", "seed", "n_ini", "lam", "metrics", "curate",
    "resources",
)
# The rest: read only by the loops (`Loop.uses`) and families (`Family.uses`) that declare them.
# A trial whose loop and family do not read one of these gets its TrialConfig default
# (madray.spec.normalise), so grid points that differ only there are one trial.
OPTIONAL_KNOBS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(TrialConfig) if f.name not in (*TRIAL_READS, "sweep", "trial_id")
)


# --------------------------------------------------------------------------- result columns
# TrialConfig fields that are not one scalar column of a result row (curate is flattened below).
_NOT_COLUMNS = ("params", "metrics", "resources", "curate")
CURATE_PREFIX = "curate_"  # the Curate knobs become columns curate_<name>
_CURATE_COLUMNS = tuple(f"{CURATE_PREFIX}{f.name}" for f in dataclasses.fields(Curate))
# The one source of the config columns every result row carries (besides `param_<name>` and metrics).
# Bookkeeping first (which sweep, which trial), then the knobs in the order TrialConfig declares them.
_FIELDS = [f.name for f in dataclasses.fields(TrialConfig) if f.name not in _NOT_COLUMNS]
CONFIG_COLUMNS: tuple[str, ...] = (
    "sweep", "trial_id", *(f for f in _FIELDS if f not in ("sweep", "trial_id")), *_CURATE_COLUMNS,
)
# The knobs that shape a trial's numbers (no bookkeeping: sweep, trial id, how long, how many).
KNOB_COLUMNS: tuple[str, ...] = tuple(c for c in CONFIG_COLUMNS if c not in ("sweep", "trial_id", "generations", "replicates"))
# Columns a row adds beside its trial's config.
ROW_COLUMNS: tuple[str, ...] = ("replicate", "generation")


def column_types() -> dict[str, type]:
    """Python type of each config column and row column (int, float or str)."""
    hints = {**typing.get_type_hints(TrialConfig),
             **{f"{CURATE_PREFIX}{k}": tp for k, tp in typing.get_type_hints(Curate).items()}}
    return {**{c: hints[c] for c in CONFIG_COLUMNS}, **{c: int for c in ROW_COLUMNS}}


def config_values(cfg: TrialConfig) -> dict[str, Any]:
    """The config columns of one trial (CONFIG_COLUMNS order), curate flattened to curate_<name>."""
    curate = {f"{CURATE_PREFIX}{k}": v for k, v in dataclasses.asdict(cfg.curate).items()}
    return {c: curate[c] if c in curate else getattr(cfg, c) for c in CONFIG_COLUMNS}


def knobs_from_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of `config_values`: config columns -> the mapping `TrialConfig` is built from."""
    knobs = {c: values[c] for c in CONFIG_COLUMNS if not c.startswith(CURATE_PREFIX)}
    knobs["curate"] = {c.removeprefix(CURATE_PREFIX): values[c] for c in _CURATE_COLUMNS if c in values}
    return knobs
