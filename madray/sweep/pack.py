"""Packs: several cheap trials as one Tune trial, run one after another in its actor.

Every Tune trial costs a start, a stop and at least one report round-trip through the Tune
controller, while the worker waits; with trials of a fraction of a second that is a visible share.
Trials estimated (cost.py) at less than LONG_S run in packs instead: at least PACKS_PER_WORKER
packs per worker slot, so that every CPU stays busy to the end, and more when the cheap trials
add up to more than PACK_S per pack. Trials go to packs longest first, each to the lightest pack
(LPT), and the Tune trials are queued longest first, which shortens the tail of the run. A trial
that is long, of a family without a cost estimate, or alone in its resource shape runs alone,
as a unit of one. Inside a unit every trial writes its own rows, checkpoints and failure record
under its own trial id (trainable.tune_unit).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence

from madray.config import Resources, TrialConfig

LONG_S = 3.0  # a trial estimated this long or longer runs as a Tune trial of its own
PACKS_PER_WORKER = 2
PACK_S = 30.0  # more packs than PACKS_PER_WORKER per worker once packs would exceed this

Unit = tuple[TrialConfig, ...]  # what one Tune trial runs: one trial, or a pack


def _lpt(trials: list[TrialConfig], seconds: dict[str, float], n: int) -> list[list[TrialConfig]]:
    """Longest first, each to the pack with the least so far."""
    heap = [(0.0, i) for i in range(n)]
    packs: list[list[TrialConfig]] = [[] for _ in range(n)]
    for cfg in sorted(trials, key=lambda c: -seconds[c.trial_id]):
        load, i = heapq.heappop(heap)
        packs[i].append(cfg)
        heapq.heappush(heap, (load + seconds[cfg.trial_id], i))
    return [p for p in packs if p]


def pack_count(total_s: float, trials: int, workers: int) -> int:
    return min(trials, max(PACKS_PER_WORKER * workers, math.ceil(total_s / PACK_S)))


def make_units(trials: Sequence[TrialConfig], workers: Callable[[Resources], int],
               estimate: Callable[[TrialConfig], float | None]) -> list[Unit]:
    """The Tune trials of a sweep, longest first; `workers(resources)`: slots for trials of that shape."""
    order = {c.trial_id: i for i, c in enumerate(trials)}
    seconds = {c.trial_id: estimate(c) for c in trials}
    cheap: dict[Resources, list[TrialConfig]] = {}
    units: list[Unit] = []
    for cfg in trials:
        s = seconds[cfg.trial_id]
        if s is None or s >= LONG_S or cfg.resources.fresh_process:  # fresh_process: a process of its own
            units.append((cfg,))
        else:
            cheap.setdefault(cfg.resources, []).append(cfg)
    for resources, group in cheap.items():
        n = pack_count(sum(seconds[c.trial_id] for c in group), len(group), max(1, workers(resources)))
        units += [tuple(sorted(p, key=lambda c: order[c.trial_id])) for p in _lpt(group, seconds, n)]

    def length(unit: Unit) -> float:  # unknown first (they are the deep, long ones), then longest first
        known = [seconds[c.trial_id] for c in unit]
        return math.inf if None in known else sum(known)

    return sorted(units, key=lambda u: (-length(u), order[u[0].trial_id]))


def unit_config(unit: Unit, index: int | None = None) -> dict:
    """The Tune trial's `config["trial"]`: its trials, named after the one trial or the pack's position."""
    configs = [c.to_dict() for c in unit]
    name = configs[0]["trial_id"] if len(unit) == 1 or index is None else f"pack{index:03d}-{configs[0]['trial_id']}"
    return {"trial_id": name, "resources": configs[0]["resources"], "pack": configs}


def members(trial_config: dict) -> list[dict]:
    """The madray trials a Tune trial's `config["trial"]` runs."""
    return trial_config["pack"]
