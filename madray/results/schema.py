"""The explicit Arrow schema of a sweep's results table.

One row per (trial, replicate, generation): the trial's config columns, its
family's parameters as `param_<name>`, then one float64 column per metric
(null where a family does not report that metric).
"""

from __future__ import annotations

import dataclasses
import typing

import pyarrow as pa

from madray.config import Sweep

CONFIG_FIELDS = [
    pa.field("sweep", pa.string()),
    pa.field("trial_id", pa.string()),
    pa.field("family", pa.string()),
    pa.field("loop", pa.string()),
    pa.field("lam", pa.float64()),
    pa.field("n_r", pa.int64()),
    pa.field("n_s", pa.int64()),
    pa.field("n_ini", pa.int64()),
    pa.field("K", pa.int64()),
    pa.field("p", pa.float64()),
    pa.field("seed", pa.int64()),
    pa.field("generations", pa.int64()),
    pa.field("replicates", pa.int64()),
    pa.field("replicate", pa.int64()),
    pa.field("generation", pa.int64()),
]
PARTITION_COLUMN = "trial_id"  # hive partition key: one folder per trial

_ARROW_TYPES = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}


def _param_fields(params_cls: type) -> list[pa.Field]:
    hints = typing.get_type_hints(params_cls)
    return [
        pa.field(f"param_{f.name}", _ARROW_TYPES.get(hints[f.name], pa.string()))
        for f in dataclasses.fields(params_cls)
    ]


def metric_names(sweep: Sweep) -> list[str]:
    """Union of the metrics the sweep's trials report, in first-seen order."""
    from madray.models import family_class

    names: dict[str, None] = {}
    for t in sweep.trials:
        names.update(dict.fromkeys(t.metrics or family_class(t.family).metric_names))
    return list(names)


def sweep_schema(sweep: Sweep) -> pa.Schema:
    """Config fields, family parameter fields, metric fields."""
    from madray.models import family_class

    fields = {f.name: f for f in CONFIG_FIELDS}
    for family in sweep.families:
        for f in _param_fields(family_class(family).Params):
            if f.name in fields and fields[f.name].type != f.type:
                fields[f.name] = pa.field(f.name, pa.string())  # same name, different types
            else:
                fields.setdefault(f.name, f)
    for m in metric_names(sweep):
        fields.setdefault(m, pa.field(m, pa.float64()))
    return pa.schema(list(fields.values()), metadata={"madray.sweep": sweep.name})


def file_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of one Parquet file: the partition column lives in the folder name."""
    return schema.remove(schema.get_field_index(PARTITION_COLUMN))
