"""Sweep specifications: one YAML file -> a validated list of frozen trial configs.

Everything here runs before Ray starts and before anything is written, so a bad
sweep fails in milliseconds with a message that names the key, the value and
what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml


class ConfigError(ValueError):
    """A sweep specification that cannot be run; the message says how to fix it."""


# --------------------------------------------------------------------------- generic parsing
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where} = {value!r}: expected {' or '.join(_type_name(a) for a in args)}")
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} = {value!r}: expected a list")
        (item_tp, _) = typing.get_args(tp)
        return tuple(_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # YAML "1e4" parses as a float
    if tp in (int, str, bool) and (type(value) is tp):
        return value
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, where)
    raise ConfigError(f"{where} = {value!r}: expected {_type_name(tp)}, got {type(value).__name__}")


def from_mapping(cls: type, data: Any, where: str) -> Any:
    """Build the frozen dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(names)}"
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
        raise ConfigError(f"{key} = {value!r} is not allowed: {allowed}")


# --------------------------------------------------------------------------- trial config
@dataclass(frozen=True)
class Resources:
    """Per-trial resources handed to Ray Tune."""

    cpu: float = 1.0
    gpu: float = 0.0

    def __post_init__(self) -> None:
        require(self.cpu > 0, "resources.cpu", self.cpu, "must be > 0")
        require(self.gpu >= 0, "resources.gpu", self.gpu, "must be >= 0")


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrialConfig":
        """Inverse of `to_dict`, re-validating (used inside Ray workers)."""
        from madray.models import family_class

        data = dict(data)
        params = data.pop("params", None)
        cfg = from_mapping(cls, data, "")
        params = from_mapping(family_class(cfg.family).Params, params, f"params.{cfg.family}")
        return dataclasses.replace(cfg, params=params)


# --------------------------------------------------------------------------- sweep spec
SWEEP_ONLY_KEYS = ("name", "params", "grid")
_KNOBS = [f.name for f in dataclasses.fields(TrialConfig) if f.name not in ("params", "sweep", "trial_id")]


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its name, the resolved spec and one TrialConfig per grid point."""

    name: str
    spec: dict[str, Any]
    trials: tuple[TrialConfig, ...]

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.family for t in self.trials))

    def grid_table(self) -> list[dict[str, Any]]:
        """The gridded knobs of each trial, for --dry-run."""
        keys = list(self.spec.get("grid", {}))
        rows = []
        for t in self.trials:
            flat = {**t.to_dict(), **{f"{t.family}.{k}": v for k, v in (t.to_dict()["params"] or {}).items()}}
            rows.append({"trial_id": t.trial_id, **{k: flat.get(k) for k in keys}})
        return rows


def _check_grid(grid: Any) -> dict[str, list]:
    if grid is None:
        return {}
    if not isinstance(grid, Mapping):
        raise ConfigError(f"grid: expected a mapping of knob -> list of values, got {grid!r}")
    for key, values in grid.items():
        family, _, param = str(key).partition(".")
        if not param and key not in _KNOBS:
            raise ConfigError(
                f"grid: unknown key {key!r}; allowed: {', '.join(_KNOBS)} or <family>.<param>"
            )
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key} = {values!r}: expected a non-empty list of values")
    return dict(grid)


def _trial_id(index: int, point: Mapping[str, Any]) -> str:
    digest = hashlib.sha1(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"t{index:03d}-{digest}"


def _build_trial(spec: Mapping[str, Any], point: Mapping[str, Any], name: str, index: int) -> TrialConfig:
    from madray.loops import validate_loop
    from madray.models import family_class, validate_family

    knobs = {k: v for k, v in spec.items() if k not in SWEEP_ONLY_KEYS}
    params_by_family = {k: dict(v or {}) for k, v in (spec.get("params") or {}).items()}
    for key, value in point.items():
        family, _, param = key.partition(".")
        if param:
            params_by_family.setdefault(family, {})[param] = value
        else:
            knobs[key] = value
    cfg = from_mapping(TrialConfig, knobs, "")
    cls = family_class(cfg.family)
    params = from_mapping(cls.Params, params_by_family.get(cfg.family), f"params.{cfg.family}")
    cfg = dataclasses.replace(cfg, params=params, sweep=name, trial_id=_trial_id(index, point))
    validate_loop(cfg, cls)
    validate_family(cfg)
    return cfg


def parse_sweep(spec: Any, source: str = "<sweep>") -> Sweep:
    """Validate a sweep mapping and expand its grid. Raises ConfigError on any problem."""
    from madray.models import FAMILIES

    if not isinstance(spec, Mapping):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level")
    spec = dict(spec)
    allowed = list(SWEEP_ONLY_KEYS) + _KNOBS
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}")
    name = spec.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"{source}: name = {name!r}: give the sweep a name made of letters, digits, '-', '_', '.'")
    params = spec.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{source}: params: expected a mapping of family -> parameters")
    for fam in params:
        if fam not in FAMILIES:
            raise ConfigError(f"params.{fam}: unknown model family {fam!r}; known: {', '.join(FAMILIES)}")
    grid = _check_grid(spec.get("grid"))
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())] or [{}]
    trials = []
    for i, point in enumerate(points):
        try:
            trials.append(_build_trial(spec, point, name, i))
        except ConfigError as e:
            where = f" (grid point {i}: {', '.join(f'{k}={v}' for k, v in point.items())})" if point else ""
            raise ConfigError(f"{source}{where}: {e}") from None
    return Sweep(name=name, spec=spec, trials=tuple(trials))


def apply_overrides(spec: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key=value` overrides (values parsed as YAML) from the command line."""
    spec = dict(spec)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set generations=5")
        value = yaml.safe_load(raw)
        parts = key.split(".")
        node = spec
        for part in parts[:-1]:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        node[parts[-1]] = value
    return spec


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> Sweep:
    """Read a sweep YAML file (`yaml.safe_load`), apply overrides, validate and expand it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {str(path)!r} does not exist")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if isinstance(spec, dict) and overrides:
        spec = apply_overrides(spec, overrides)
    return parse_sweep(spec, str(path))


def dump_sweep(sweep: Sweep) -> str:
    """The resolved sweep as YAML: the spec plus every trial's full config."""
    doc = {"spec": to_plain(sweep.spec), "trials": [t.to_dict() for t in sweep.trials]}
    return yaml.safe_dump(doc, sort_keys=False)
