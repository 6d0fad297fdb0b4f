"""The `search:` section of a sweep file: which knob to search, over what range, for which crossing.

    search:
      knob: n_s                 # any numeric knob (n_s, n_r, n_ini, lam, K, p) or <family>.<param>
      range: [10, 3000]         # lo < hi, both validated as trial configs of every grid point
      scale: log                # log (default for integer knobs, the sizes) or linear
      statistic: ratio          # n_e / n_r (MAD Eq. 3; ratio:w2 matches E[W2] instead of E[W2²]), or final:<metric>
      threshold: 1.0            # the boundary: statistic = threshold
      admissible: above         # which side of the threshold is admissible (n_e / n_r >= 1: above)
      tolerance: 0.1            # stop when the bracket is this narrow (relative, see `width`)
      level: 0.95               # confidence level of the statistic's interval
      max_evaluations: 16       # trials per grid point, replicate batches included
      max_replicates: 80        # replicates per searched value (batches of the sweep's `replicates`)

Every other key of the file is an ordinary sweep: its grid is expanded as usual and each grid
point gets one boundary. Parsed before Ray starts, like the rest of the file: every grid point is
built and validated at both ends of the range.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from madray.config import KNOB_COLUMNS, ConfigError, TrialConfig, from_mapping, require
from madray.errors import brief
from madray.models import family_class, known_families, split_param_key
from madray.spec import TRACKING, Sweep, parse_sweep, read_spec

RATIO = "ratio"
FINAL = "final:"
RATIOS = {RATIO: "frechet", f"{RATIO}:w2_squared": "w2_squared", f"{RATIO}:w2": "w2"}  # statistic -> n_e's distance
# The TrialConfig fields a search can move: the numeric knobs (n_ini, n_r, n_s, lam, K, p), not the seed.
# (curate_<key> columns are knobs of the nested `curate:` section, not top-level keys: not searchable here.)
_HINTS = typing.get_type_hints(TrialConfig)
_TRIAL_KNOBS = tuple(k for k in KNOB_COLUMNS if _HINTS.get(k) in (int, float) and k != "seed")


@dataclass(frozen=True)
class SearchSpec:
    """A validated `search:` section (see the module docstring for each key)."""

    range: tuple[float, ...]
    knob: str = "n_s"
    scale: str | None = None  # None: log for integer knobs, linear otherwise
    statistic: str = RATIO
    threshold: float = 1.0
    admissible: str = "above"
    tolerance: float = 0.1
    level: float = 0.95
    max_evaluations: int = 16
    max_replicates: int | None = None  # None: 4 batches of the sweep's replicates

    def __post_init__(self) -> None:
        require(len(self.range) == 2, "search.range", list(self.range), "a list [lo, hi]")
        lo, hi = self.range
        require(lo < hi, "search.range", list(self.range), "an increasing range [lo, hi] with lo < hi")
        require(self.scale in (None, "log", "linear"), "search.scale", self.scale, "log or linear")
        require(self.admissible in ("above", "below"), "search.admissible", self.admissible,
                "above (admissible when statistic >= threshold) or below")
        require(0 < self.tolerance < 1, "search.tolerance", self.tolerance, "a relative width in (0, 1), e.g. 0.1")
        require(0 < self.level < 1, "search.level", self.level, "a confidence level in (0, 1), e.g. 0.95")
        require(self.max_evaluations >= 2, "search.max_evaluations", self.max_evaluations,
                ">= 2 (the two ends of the range come first)")
        require(self.max_replicates is None or self.max_replicates >= 1, "search.max_replicates",
                self.max_replicates, ">= 1")
        require(self.statistic in RATIOS or (self.statistic.startswith(FINAL) and len(self.statistic) > len(FINAL)),
                "search.statistic", self.statistic,
                f"{', '.join(RATIOS)} (n_e / n_r matching E[W2²] or E[W2]) or {FINAL}<metric>, e.g. final:trace_cov")
        require(math.isfinite(self.threshold), "search.threshold", self.threshold, "a finite number")


@dataclass(frozen=True)
class SearchSweep:
    """A sweep whose grid points each get a boundary search: `sweep.trials` hold the knob at `range[0]`."""

    sweep: Sweep
    search: SearchSpec
    integer: bool  # the knob takes integer values (proposals are rounded)
    ends: tuple[Sweep, Sweep]  # the sweep at range[0] and at range[1] (validated at parse time; `madray plan` prices them)

    @property
    def log(self) -> bool:
        return self.search.scale == "log"

    @property
    def batch_replicates(self) -> int:
        return self.sweep.trials[0].replicates

    @property
    def max_batches(self) -> int:
        """Replicate batches per searched value: max_replicates in steps of the sweep's replicates."""
        cap = self.search.max_replicates or 4 * self.batch_replicates
        return max(1, cap // self.batch_replicates)


def knob_type(knob: str) -> type:
    """int or float: the annotation of a TrialConfig knob or of a family parameter (`<family>.<param>`)."""
    family, param = split_param_key(knob)
    if not param:
        require(knob in _TRIAL_KNOBS, "search.knob", knob, f"one of {', '.join(_TRIAL_KNOBS)} or <family>.<param>")
        return typing.get_type_hints(TrialConfig)[knob]
    try:
        params = family_class(family).Params
    except ConfigError:
        raise ConfigError(f"search.knob = {knob!r} is not allowed: <family>.<param> with a family among "
                          f"{', '.join(known_families())} or an import path") from None
    hints = typing.get_type_hints(params)
    names = [f.name for f in dataclasses.fields(params)]
    require(param in names, "search.knob", knob, f"a parameter of {family}: {', '.join(names) or 'none'}")
    require(hints[param] in (int, float), "search.knob", knob, "a numeric parameter (int or float)")
    return hints[param]


def with_knob(spec: Mapping[str, Any], knob: str, value: float) -> dict[str, Any]:
    """The sweep mapping with the knob set to `value` (a family parameter goes under params)."""
    out = dict(spec)
    family, param = split_param_key(knob)
    if param:
        params = {k: dict(v or {}) for k, v in (out.get("params") or {}).items()}
        params.setdefault(family, {})[param] = value
        out["params"] = params
    else:
        out[knob] = value
    return out


def _check_statistic(search: SearchSpec, sweep: Sweep) -> None:
    """The statistic must be one every grid point's family reports."""
    for cfg in sweep.trials:
        reported = cfg.metrics or family_class(cfg.family).metric_names
        if search.statistic in RATIOS:
            require(cfg.family == "gaussian" and "frechet" in reported, "search.statistic", search.statistic,
                    f"n_e / n_r needs the gaussian family reporting frechet (trial {cfg.trial_id}: {cfg.family}, "
                    f"metrics {', '.join(reported)}); use final:<metric> for other families")
            require(cfg.n_r > 0, "search.statistic", search.statistic,
                    f"n_e / n_r needs n_r > 0 (trial {cfg.trial_id} has n_r = {cfg.n_r})")
        else:
            metric = search.statistic[len(FINAL):]
            require(metric in reported, "search.statistic", search.statistic,
                    f"a metric that family {cfg.family} reports: {', '.join(reported)}")


def parse_search(spec: Any, source: str = "<sweep>") -> SearchSweep:
    """Validate a sweep mapping with a `search:` section. Raises ConfigError on any problem."""
    if not isinstance(spec, Mapping) or "search" not in spec:
        raise ConfigError(f"{source}: expected a sweep mapping with a search: section")
    rest = {k: v for k, v in spec.items() if k != "search"}
    search = from_mapping(SearchSpec, spec["search"], "search")
    kind = knob_type(search.knob)
    if search.knob in (rest.get("grid") or {}):
        raise ConfigError(f"search.knob = {brief(search.knob)} is also a grid axis; search it or grid it, not both")
    if search.scale is None:
        search = dataclasses.replace(search, scale="log" if kind is int else "linear")
    lo, hi = search.range
    require(search.scale == "linear" or lo > 0, "search.range", list(search.range), "lo > 0 on a log scale")
    require(kind is float or (float(lo).is_integer() and float(hi).is_integer()), "search.range",
            list(search.range), f"integers: {search.knob} is an integer knob")
    ends = [parse_sweep(with_knob(rest, search.knob, v), f"{source} (search.{search.knob} = {v})")
            for v in (kind(lo), kind(hi))]
    _check_statistic(search, ends[0])
    tracking = dataclasses.replace(ends[0].tracking, axes=(*ends[0].tracking.axes, search.knob))
    sweep = dataclasses.replace(ends[0], spec={k: v for k, v in spec.items() if k != TRACKING}, tracking=tracking)
    return SearchSweep(sweep=sweep, search=search, integer=kind is int, ends=(ends[0], ends[1]))


def load_search(path: str | Path, overrides: list[str] | None = None, track: list[str] | None = None,
                max_bytes: int | None = None) -> SearchSweep:
    """Read a sweep file with a `search:` section (`yaml.safe_load`, at most `max_bytes`), apply overrides,
    add the `track` trackers and validate it."""
    return parse_search(read_spec(path, overrides, track, max_bytes), str(path))
