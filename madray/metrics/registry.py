"""The metric registry, in torch-fidelity's style: a metric's name -> what it needs and how it is computed.

A reference metric scores a generated feature set against a real `ReferenceSet` (features_1 =
generated, features_2 = real). Metrics of one `group` come from one computation (precision, recall,
density and coverage share their nearest-neighbour searches), so a group is computed once when any
of its metrics is wanted. Adding a metric is a function in a file of this folder plus one line in
METRICS; a family reports it by naming it in its `metric_names` (or `reference_metrics(...)`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import import_module

import numpy as np


@dataclass(frozen=True)
class Metric:
    name: str
    group: str  # metrics of one group are computed together, by `compute`
    compute: str  # "module:function": (ReferenceSet, generated features (n, d)) -> {name: value} of the group
    better: str  # "lower" or "higher"
    source: str  # the paper that defines it

    def function(self) -> Callable[..., dict[str, float]]:
        module, _, attr = self.compute.partition(":")
        return getattr(import_module(module), attr)


def _frechet(reference, features: np.ndarray) -> dict[str, float]:
    return {"frechet": reference.frechet(features)}


def _prdc(reference, features: np.ndarray) -> dict[str, float]:
    return reference.prdc(features)


_PRDC = "madray.metrics.registry:_prdc"
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("frechet", "frechet", "madray.metrics.registry:_frechet", "lower",
           "Heusel et al. 2017, Eq. 6 (the FID formula in any feature space)"),
    Metric("precision", "prdc", _PRDC, "higher", "Kynkäänniemi et al. 2019, Eq. 1-2"),
    Metric("recall", "prdc", _PRDC, "higher", "Kynkäänniemi et al. 2019, Eq. 1-2"),
    Metric("density", "prdc", _PRDC, "higher", "Naeem et al. 2020, §3"),
    Metric("coverage", "prdc", _PRDC, "higher", "Naeem et al. 2020, §3"),
)}


def reference_metrics(frechet_as: str | None = "frechet") -> tuple[str, ...]:
    """Every registered reference metric's name, the Fréchet distance named `frechet_as` (FID: "fid";
    None: left out)."""
    names = [frechet_as if m == "frechet" else m for m in METRICS if m != "frechet" or frechet_as]
    return tuple(names)


def score(reference, features: np.ndarray, wanted: Collection[str], frechet_as: str | None = "frechet") -> dict[str, float]:
    """The wanted reference metrics of one generated feature set, each group computed once."""
    names = {("frechet" if w == frechet_as else w) for w in wanted}
    groups = {METRICS[n].group: METRICS[n] for n in names if n in METRICS}
    out: dict[str, float] = {}
    for metric in groups.values():
        out.update(metric.function()(reference, features))
    if frechet_as and "frechet" in out:
        out[frechet_as] = out.pop("frechet")
    return out
