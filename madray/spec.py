"""Sweep specifications: one YAML file -> a validated list of frozen trial configs.

Everything here runs before Ray starts and before anything is written, so a bad
sweep fails in milliseconds with a message that names the key, the value and
what is allowed. This layer sits above the loop and model registries, which it
validates every trial against.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from madray.config import OPTIONAL_KNOBS, ConfigError, Curate, TrialConfig, from_mapping, grid_values, to_plain
from madray.curate import metric_names as curation_metric_names
from madray.curate import validate_curate
from madray.errors import brief, clip
from madray.loops import loop_class, validate_loop
from madray.models import FAMILIES, family_class, split_param_key, validate_family
from madray.sweepfile import check_is_sweep, read_sweep_file, read_yaml, yaml_problem
from madray.tracking import TRACKING, TrackingSpec, add_trackers, parse_tracking

SWEEP_ONLY_KEYS = ("name", "params", "grid")
_KNOBS = [f.name for f in dataclasses.fields(TrialConfig) if f.name not in ("params", "sweep", "trial_id")]
CURATE = "curate"  # grid keys curate.<key> set one knob of the trial's Curate
DEFAULT_MAX_TRIALS = 100_000  # a grid is counted (product of axis lengths) and refused above this before expanding
# The sweep name becomes one folder, <out>/<name>, that --overwrite may delete: one path component,
# never ".", ".." or hidden, nothing a shell or another OS reads specially.
NAME_RULE = "letters, digits, '_', '-' and '.', not starting with '.', at most 100 characters"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def trial_from_dict(data: Mapping[str, Any]) -> TrialConfig:
    """Inverse of `TrialConfig.to_dict`, re-validating (Ray workers, rebuilt trials)."""
    data = dict(data)
    params = data.pop("params", None)
    cfg = from_mapping(TrialConfig, data, "")
    params = from_mapping(family_class(cfg.family).Params, params, f"params.{cfg.family}")
    return dataclasses.replace(cfg, params=params)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: its name, the resolved spec and one TrialConfig per grid point."""

    name: str
    spec: dict[str, Any]
    trials: tuple[TrialConfig, ...]  # the distinct trials, in grid order (first grid point's id)
    grid_points: tuple[int, ...] = ()  # how many grid points each trial stands for
    notes: tuple[str, ...] = ()  # why grid points merged: "n_r does not affect fully_synthetic"
    tracking: TrackingSpec = dataclasses.field(default_factory=TrackingSpec)  # not in `spec`: not the sweep's identity

    @property
    def n_grid_points(self) -> int:
        return sum(self.grid_points) or len(self.trials)

    def size_line(self) -> str:
        """"32 grid points, 24 distinct trials; n_r does not affect fully_synthetic"."""
        line = f"{self.n_grid_points} grid points, {len(self.trials)} distinct trials"
        return line + (f"; {', '.join(self.notes)}" if self.notes else "")

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.family for t in self.trials))

    @property
    def metric_names(self) -> list[str]:
        """Union of the metrics the sweep's trials report, in first-seen order."""
        names: dict[str, None] = {}
        for t in self.trials:
            names.update(dict.fromkeys(t.metrics or family_class(t.family).metric_names))
        return [*names, *curation_metric_names(self.trials)]

    def param_types(self) -> dict[str, dict[str, type]]:
        """family -> parameter -> annotated type, for the results schema."""
        out = {}
        for family in self.families:
            params = family_class(family).Params
            hints = typing.get_type_hints(params)
            out[family] = {f.name: hints[f.name] for f in dataclasses.fields(params)}
        return out

    def grid_table(self) -> list[dict[str, Any]]:
        """The gridded knobs of each trial (normalised values), for --dry-run and progress labels."""
        keys = list(self.spec.get("grid", {}))
        rows = []
        for t in self.trials:
            flat = grid_values(t)
            rows.append({"trial_id": t.trial_id, **{k: flat.get(k) for k in keys}})
        return rows


def _check_grid(grid: Any) -> dict[str, list]:
    if grid is None:
        return {}
    if not isinstance(grid, Mapping):
        raise ConfigError(f"grid: expected a mapping of knob -> list of values, got {brief(grid)}")
    for key, values in grid.items():
        family, param = split_param_key(str(key))
        if not param and key not in _KNOBS:
            raise ConfigError(
                f"grid: unknown key {brief(key)}; allowed: {', '.join(_KNOBS)}, {CURATE}.<key> or <family>.<param>"
            )
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{clip(key)} = {brief(values)}: expected a non-empty list of values")
        _check_distinct(key, values)
    return dict(grid)


def _canonical(value: Any) -> Any:
    """A hashable stand-in under which equal knob values collide (1 and 1.0, lists equal item by item)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, (int, float)):
        return ("number", float(value))
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _check_distinct(key: str, values: list) -> None:
    """Equal values on one axis would run identical trials under two ids."""
    seen: dict[Any, int] = {}
    for i, value in enumerate(values):
        j = seen.setdefault(_canonical(value), i)
        if j != i:
            raise ConfigError(f"grid.{clip(key)} = {brief(values)}: {brief(values[j])} (item {j}) and {brief(value)} (item {i}) "
                              f"are the same value; list each value once")


def _check_grid_families(grid: Mapping[str, list], family: Any, source: str) -> None:
    """`<family>.<param>` axes must belong to a family the sweep runs, else they only multiply trials."""
    if family is None and "family" not in grid:
        return  # building the trials reports the missing family
    used = [str(f) for f in grid.get("family", [family])]
    for key in grid:
        fam, param = split_param_key(key)
        if not param or fam == CURATE:
            continue
        if fam not in used:
            raise ConfigError(f"{source}: grid.{clip(key)}: the sweep runs family {', '.join(map(brief, used))}, "
                              f"not {brief(fam)}; remove the axis or add {brief(fam)} to family")
        names = [f.name for f in dataclasses.fields(family_class(fam).Params)]
        if param not in names:
            raise ConfigError(f"{source}: grid.{clip(key)}: family {fam!r} has no parameter {brief(param)}; "
                              f"allowed: {', '.join(names)}")


def _check_grid_size(grid: Mapping[str, list], max_trials: int, source: str) -> None:
    """Count the grid before expanding it: 10^9 points would take gigabytes just to list."""
    count = math.prod(len(values) for values in grid.values())
    if count > max_trials:
        sizes = " × ".join(f"{len(v)} {k}" for k, v in grid.items())
        raise ConfigError(f"{source}: the grid has {count:,} points ({sizes}), more than --max-trials = "
                          f"{max_trials:,}; shrink the grid or raise --max-trials")


def check_name(name: Any, source: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{source}: name = {brief(name)}: a sweep name is one folder name made of {NAME_RULE}")
    return name


def machine_memory() -> int:
    """Physical memory of this machine in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def trial_memory(cfg: TrialConfig) -> int:
    """Estimated peak bytes of one trial (`Family.memory_bytes` of the samples its loop holds)."""
    return family_class(cfg.family).memory_bytes(cfg, loop_class(cfg.loop).samples_held(cfg))


def check_memory(sweep: Sweep, limit: int, source: str) -> None:
    """Refuse a sweep whose largest trial would not fit in `limit` bytes (before Ray starts)."""
    cfg = max(sweep.trials, key=trial_memory)
    need = trial_memory(cfg)
    if need > limit:
        raise ConfigError(
            f"{source}: trial {cfg.trial_id} ({cfg.family}, {cfg.loop}, generations = {cfg.generations}, "
            f"replicates = {cfg.replicates}, n_ini = {cfg.n_ini}, n_s = {cfg.n_s}) needs about "
            f"{need / 2**30:,.1f} GiB, more than this machine's {limit / 2**30:,.1f} GiB; "
            f"make it smaller or pass --force to run it anyway")


def _trial_id(index: int, point: Mapping[str, Any]) -> str:
    digest = hashlib.sha1(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"t{index:03d}-{digest}"


def reads(cfg: TrialConfig) -> frozenset[str]:
    """The optional knobs (OPTIONAL_KNOBS) that `cfg`'s loop and family declare they read."""
    return frozenset(loop_class(cfg.loop).uses) | frozenset(family_class(cfg.family).uses)


def normalise(cfg: TrialConfig) -> TrialConfig:
    """`cfg` with every optional knob its loop and family do not read set to the TrialConfig default.

    Grid points that differ only in such knobs compute the same numbers; normalised, they have
    equal configs and run once (`distinct_trials`), and their result rows carry the default.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(TrialConfig) if f.name in OPTIONAL_KNOBS}
    unread = {k: v for k, v in defaults.items() if k not in reads(cfg)}
    return dataclasses.replace(cfg, **unread)


def _identity(cfg: TrialConfig) -> str:
    plain = {k: v for k, v in cfg.to_dict().items() if k != "trial_id"}
    return json.dumps(plain, sort_keys=True, default=str)


def distinct_trials(trials: list[TrialConfig]) -> tuple[tuple[TrialConfig, ...], tuple[int, ...]]:
    """Merge trials with equal configs: the first one's id stays; the counts of grid points per trial."""
    first: dict[str, TrialConfig] = {}
    counts: dict[str, int] = {}
    for cfg in trials:
        key = _identity(cfg)
        first.setdefault(key, cfg)
        counts[key] = counts.get(key, 0) + 1
    return tuple(first.values()), tuple(counts.values())


def _unread_note(key: str, cfg: TrialConfig) -> str | None:
    """Why the gridded `key` does not matter to `cfg`'s trial, or None if it does."""
    family, param = split_param_key(key)
    if param and family != cfg.family:
        return f"{key} does not affect {cfg.family}"
    if key in OPTIONAL_KNOBS and key not in reads(cfg):
        return f"{key} does not affect {cfg.loop}"
    return None


def merge_notes(grid: Mapping[str, list], trials: list[TrialConfig]) -> tuple[str, ...]:
    """One note per (gridded knob, loop or family) that ignores it, in grid order."""
    notes = (_unread_note(key, cfg) for key in grid for cfg in trials)
    return tuple(dict.fromkeys(n for n in notes if n))


def _curate_point(knobs: dict[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """Fold the grid point's curate.<key> values into knobs["curate"]; returns the rest of the point."""
    prefix = f"{CURATE}."
    keys = {k.removeprefix(prefix): v for k, v in point.items() if k.startswith(prefix)}
    if keys:
        base = knobs.get(CURATE)
        if base is not None and not isinstance(base, Mapping):
            raise ConfigError(f"{CURATE}: expected a mapping of curation knobs, got {brief(base)}")
        knobs[CURATE] = {**(base or {}), **keys}
    return {k: v for k, v in point.items() if not k.startswith(prefix)}


def _build_trial(spec: Mapping[str, Any], point: Mapping[str, Any], name: str, index: int) -> TrialConfig:
    knobs = {k: v for k, v in spec.items() if k not in SWEEP_ONLY_KEYS}
    params_by_family = {k: dict(v or {}) for k, v in (spec.get("params") or {}).items()}
    for key, value in _curate_point(knobs, point).items():
        family, param = split_param_key(key)
        if param:
            params_by_family.setdefault(family, {})[param] = value
        else:
            knobs[key] = value
    cfg = from_mapping(TrialConfig, knobs, "")
    cls = family_class(cfg.family)
    params = from_mapping(cls.Params, params_by_family.get(cfg.family), f"params.{cfg.family}")
    cfg = dataclasses.replace(cfg, params=params, sweep=name, trial_id=_trial_id(index, point))
    return validate_trial(cfg)


def validate_trial(cfg: TrialConfig) -> TrialConfig:
    """Check one trial's knobs against its loop, family and curation (ConfigError naming the key); returns cfg.

    The knobs as written: a bad value is an error even where the loop or family does not read it.
    """
    cls = family_class(cfg.family)
    validate_loop(cfg, cls)
    validate_family(cfg)
    validate_curate(cfg, cls)
    return cfg


def parse_sweep(spec: Any, source: str = "<sweep>", max_trials: int = DEFAULT_MAX_TRIALS) -> Sweep:
    """Validate a sweep mapping and expand its grid (at most `max_trials` points). Raises ConfigError."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level")
    spec = dict(spec)
    if "search" in spec:  # parsed by madray.search.spec, which hands the rest back here
        raise ConfigError(f"{source}: this sweep has a search: section; run it with `madray search {source}`")
    section = spec.pop(TRACKING, None)
    allowed = [*SWEEP_ONLY_KEYS, TRACKING, *_KNOBS]
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ConfigError(f"{source}: unknown key {brief(unknown[0])}; allowed keys: {', '.join(allowed)}")
    name = check_name(spec.get("name"), source)
    params = spec.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{source}: params: expected a mapping of family -> parameters")
    for fam in params:
        if fam in FAMILIES:
            continue  # known without importing it (a deep family's module brings torch)
        try:
            family_class(str(fam))
        except ConfigError as e:
            raise ConfigError(f"{source}: params.{clip(str(fam))}: {e}") from None
    grid = _check_grid(spec.get("grid"))
    tracking = parse_tracking(section, source, name, tuple(grid))
    _check_grid_families(grid, spec.get("family"), source)
    _check_grid_size(grid, max_trials, source)
    points = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())] or [{}]
    trials = []
    for i, point in enumerate(points):
        try:
            trials.append(_build_trial(spec, point, name, i))
        except ConfigError as e:
            where = f" (grid point {i}: {', '.join(f'{clip(k)}={brief(v)}' for k, v in point.items())})" if point else ""
            raise ConfigError(f"{source}{where}: {e}") from None
    distinct, counts = distinct_trials([normalise(t) for t in trials])
    return Sweep(name=name, spec=spec, trials=distinct, grid_points=counts,
                 notes=merge_notes(grid, trials) if len(distinct) < len(trials) else (), tracking=tracking)


OVERRIDE_SECTIONS = ("search",)  # top-level sections that other parsers read (madray.search.spec)


def _known(item: str, part: str, allowed: list[str], where: str) -> None:
    """`part` of a --set key must be one of `allowed`: a typo is blamed on the option, with a suggestion."""
    if part not in allowed:
        close = difflib.get_close_matches(part, allowed, n=1)
        hint = f" (did you mean {where + close[0]!r}?)" if close else ""
        raise ConfigError(f"--set {item!r}: unknown key {where + part!r}{hint}; allowed {f'after {where!r}' if where else 'keys'}: "
                          f"{', '.join(allowed)}")


def check_override_key(item: str, parts: list[str], spec: Mapping[str, Any]) -> None:
    """The key path of one --set, checked where the allowed names are known (top level, params, curate)."""
    _known(item, parts[0], list(dict.fromkeys([*SWEEP_ONLY_KEYS, *_KNOBS, *OVERRIDE_SECTIONS, *map(str, spec)])), "")
    if parts[0] == "params" and len(parts) > 1:
        _known(item, parts[1], list(FAMILIES), "params.")
        if len(parts) > 2:
            names = [f.name for f in dataclasses.fields(family_class(parts[1]).Params)]
            _known(item, parts[2], names, f"params.{parts[1]}.")
    if parts[0] == CURATE and len(parts) > 1:
        _known(item, parts[1], [f.name for f in dataclasses.fields(Curate)], f"{CURATE}.")


def apply_overrides(spec: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key=value` overrides (values parsed as YAML) from the command line; an unknown key is
    an error naming the --set option (not the file) with the closest allowed name."""
    spec = dict(spec)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {brief(item)}: expected key=value, e.g. --set generations=5")
        check_override_key(item, key.split("."), spec)
        try:
            value = read_yaml(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {brief(item)}: not a valid YAML value: {yaml_problem(e)}") from None
        parts = key.split(".")
        node = spec
        for part in parts[:-1]:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        node[parts[-1]] = value
    return spec


def read_spec(path: str | Path, overrides: list[str] | None = None, track: list[str] | None = None,
              max_bytes: int | None = None) -> Any:
    """A sweep YAML file (safe, duplicate keys and alias bombs refused, at most `max_bytes`) with
    `key=value` overrides applied and the `track` trackers (`--track`) added to its tracking: section."""
    spec = read_sweep_file(Path(path), max_bytes)
    known = {*SWEEP_ONLY_KEYS, *_KNOBS, TRACKING, "search"}  # search: madray.search.spec reads the same files
    check_is_sweep(spec, Path(path), known, ", ".join([*SWEEP_ONLY_KEYS, "family", "loop"]))
    if isinstance(spec, dict) and overrides:
        spec = apply_overrides(spec, overrides)
    return add_trackers(spec, track or [])


def load_sweep(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    max_trials: int = DEFAULT_MAX_TRIALS,
    force: bool = False,
    track: list[str] | None = None,
    max_bytes: int | None = None,
) -> Sweep:
    """Read a sweep YAML file (at most `max_bytes`), apply overrides, add the `track` trackers, validate
    and expand it.

    Unless `force`, a sweep whose largest trial would not fit in this machine's memory is refused.
    """
    sweep = parse_sweep(read_spec(path, overrides, track, max_bytes), str(path), max_trials=max_trials)
    if not force:
        check_memory(sweep, machine_memory(), str(path))
    return sweep


def dump_sweep(sweep: Sweep) -> str:
    """The resolved sweep as YAML: the spec plus every trial's full config."""
    doc = {"spec": to_plain(sweep.spec), "trials": [t.to_dict() for t in sweep.trials],
           "grid_points": {t.trial_id: n for t, n in zip(sweep.trials, sweep.grid_points)}}
    return yaml.safe_dump(doc, sort_keys=False)
