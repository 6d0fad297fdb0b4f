"""Curation registry: a curation stage between a generation's sampling and the loop's training set.

Adding a mechanism is one file in this folder plus one line here. `curated_sample` is what the
trial calls; kind `none` draws exactly what an uncurated loop draws and reports no metrics.
"""

from __future__ import annotations

from typing import Any

from madray.batch import Batch
from madray.config import TrialConfig, require
from madray.curate.base import CURATION_METRICS, Curator, Draw, curation_metrics
from madray.curate.correct import Correct
from madray.curate.select import Select
from madray.curate.verify import Verify
from madray.models.base import Family, Metrics

CURATORS: dict[str, type[Curator]] = {
    "verify": Verify,
    "select": Select,
    "correct": Correct,
}


def validate_curate(cfg: TrialConfig, family: type[Family]) -> None:
    """Refuse a mechanism whose oracle the family cannot provide (parse time, before Ray starts)."""
    curator = CURATORS.get(cfg.curate.kind)
    for method in curator.needs if curator else ():
        require(family.provides(method), "curate.kind", cfg.curate.kind,
                f"family {cfg.family!r} provides no {method}(); curations it can run: "
                f"{', '.join(['none', *supported(family)])}")


def supported(family: type[Family]) -> list[str]:
    """The curation kinds `family` can run besides none."""
    return [k for k, c in CURATORS.items() if all(family.provides(m) for m in c.needs)]


def curated_sample(cfg: TrialConfig, draw: Draw, n: int) -> tuple[Batch, Metrics]:
    """n samples per replicate for the loop, after `cfg.curate`; with kind none, the model's own."""
    if cfg.curate.kind == "none":
        return draw.candidates(n), {}
    return CURATORS[cfg.curate.kind].curate(cfg.curate, draw, n)


def metric_names(cfgs: Any) -> tuple[str, ...]:
    """The curation metric columns a set of trial configs reports (none when nothing is curated)."""
    return CURATION_METRICS if any(c.curate.kind != "none" for c in cfgs) else ()


__all__ = ["CURATION_METRICS", "CURATORS", "Draw", "curated_sample", "curation_metrics", "metric_names",
           "supported", "validate_curate"]
