"""The explicit Arrow schema of a sweep's results table.

One row per (trial, replicate, generation): the trial's config columns, its
family's parameters as `param_<name>`, then one float64 column per metric
(null where a family does not report that metric).
"""

from __future__ import annotations

import pyarrow as pa

from madray.config import column_types

PARTITION_COLUMN = "trial_id"  # hive partition key: one folder per trial

_ARROW_TYPES = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}


def arrow_type(tp: type) -> pa.DataType:
    """Arrow type of a config or parameter annotation; anything else is stored as a string."""
    return _ARROW_TYPES.get(tp, pa.string())


CONFIG_FIELDS = [pa.field(name, arrow_type(tp)) for name, tp in column_types().items()]


def sweep_schema(name: str, param_types: dict[str, dict[str, type]], metrics: list[str]) -> pa.Schema:
    """Config fields, then `param_<name>` of every family (family -> param -> type), then metric fields.

    Plain data in, so that the results layer needs no model registry: the runner says which
    families, parameters and metrics the sweep has.
    """
    fields = {f.name: f for f in CONFIG_FIELDS}
    for params in param_types.values():
        for param, tp in params.items():
            f = pa.field(f"param_{param}", arrow_type(tp))
            if f.name in fields and fields[f.name].type != f.type:
                fields[f.name] = pa.field(f.name, pa.string())  # same name, different types
            else:
                fields.setdefault(f.name, f)
    for m in metrics:
        fields.setdefault(m, pa.field(m, pa.float64()))
    return pa.schema(list(fields.values()), metadata={"madray.sweep": name})


def file_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of one Parquet file: the partition column lives in the folder name."""
    return schema.remove(schema.get_field_index(PARTITION_COLUMN))
