"""The `tracking:` section of a sweep file: which trackers get a run per trial.

    tracking:
      wandb: {project: collapse, entity: null, mode: offline}   # W&B (mode online sends to wandb.ai)
      mlflow: {tracking_uri: file:./mlruns, experiment: collapse}
      tensorboard: {}                                           # event files beside the results

Parsed before Ray starts: an unknown tracker or key, a wrong value, or a tracker whose package is
not installed is a ConfigError naming the `pip install madray[<tracker>]` extra. The section is not
part of the sweep's identity (sweep.yaml): a run may be resumed with or without trackers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from madray.config import ConfigError, from_mapping

TRACKING = "tracking"  # the sweep file's key


@dataclass(frozen=True)
class TrackingSpec:
    """A validated `tracking:` section: each tracker's frozen config, and the grid axes that become tags."""

    trackers: tuple[tuple[str, Any], ...] = ()  # (tracker name, its Config), in the file's order
    sweep: str = ""
    axes: tuple[str, ...] = ()  # grid keys (and a search's knob): each trial run is tagged with their values

    def __bool__(self) -> bool:
        return bool(self.trackers)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.trackers)


def parse_tracking(section: Any, registry: Mapping[str, type], source: str, sweep: str = "",
                   axes: Iterable[str] = ()) -> TrackingSpec:
    """Validate a `tracking:` mapping (tracker name -> its keys, or null for the defaults)."""
    if section is None:
        return TrackingSpec(sweep=sweep, axes=tuple(axes))
    if not isinstance(section, Mapping):
        raise ConfigError(f"{source}: {TRACKING}: expected a mapping of tracker -> settings, e.g. "
                          f"{{mlflow: {{}}}}; trackers: {', '.join(registry)}")
    trackers = []
    for name, keys in section.items():
        if name not in registry:
            raise ConfigError(f"{source}: {TRACKING}.{name}: unknown tracker {name!r}; known: {', '.join(registry)}")
        cls = registry[name]
        if importlib.util.find_spec(cls.package) is None:
            raise ConfigError(f"{source}: {TRACKING}.{name}: the {cls.package!r} package is not installed; "
                              f"install it with: pip install 'madray[{name}]'")
        try:
            trackers.append((name, from_mapping(cls.Config, keys, f"{TRACKING}.{name}")))
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None
    return TrackingSpec(trackers=tuple(trackers), sweep=sweep, axes=tuple(axes))


def add_trackers(spec: Any, names: Iterable[str]) -> Any:
    """The sweep mapping with each of `names` (`--track`) in its tracking: section (defaults unless set there)."""
    names = list(names)
    if not names or not isinstance(spec, Mapping):
        return spec
    section = spec.get(TRACKING) or {}
    if not isinstance(section, Mapping):
        return spec  # parse_tracking reports it
    return {**spec, TRACKING: {**{n: {} for n in names}, **section}}


def check_local(tracking: TrackingSpec, out: str) -> None:
    """Trackers keep their records beside the results: refuse an object-store --out before anything runs."""
    if tracking and "://" in out:
        raise ConfigError(f"--out {out!r}: tracking ({', '.join(tracking.names)}) keeps its run records in the "
                          f"sweep folder, which must be a local or shared filesystem path, not a URI")
