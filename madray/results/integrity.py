"""Checks that every file under `results/` is one madray wrote for this sweep, before any is read.

pyarrow reads a folder of Parquet files of different schemas by unifying them: a foreign file
adds all-null rows, drops columns and turns integer columns into floats without a word. So
`load_results` checks each file's footer (names and types against the sweep's schema, its place
`trial_id=<id>/gen-NNNNNN.parquet`, the generation and sweep its rows claim) and stops at the first
file that does not belong, naming it and the way out.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from madray.errors import DataError
from madray.results.schema import CONFIG_FIELDS, PARTITION_COLUMN

_PLACE = re.compile(rf"{PARTITION_COLUMN}=([^/]+)/gen-(\d{{6}})\.parquet")
FIX = ("madray writes only results/trial_id=<id>/gen-NNNNNN.parquet files of the sweep's schema there: "
       "move this file out of results/; if madray wrote it (a damaged disk, an older madray), start again "
       "with `madray run <sweep file> --overwrite`")
# Columns every madray results file has whatever the sweep (the partition lives in the folder name).
_REQUIRED = [f for f in CONFIG_FIELDS if f.name != PARTITION_COLUMN]


def _footer(fs: pafs.FileSystem, path: str) -> pq.FileMetaData:
    try:
        with fs.open_input_file(path) as f:
            return pq.read_metadata(f)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{path} cannot be read as Parquet (truncated, or not Parquet: {e}). {FIX}") from None


def reference_schema(stored: bytes | None, fs: pafs.FileSystem, files: list[str]) -> pa.Schema:
    """The schema every file must have: the one the run stored beside its results, else (results
    of a madray that did not store it) the first file's, provided it has madray's config columns."""
    if stored is not None:
        return pa.ipc.read_schema(pa.py_buffer(stored))
    schema = _footer(fs, files[0]).schema.to_arrow_schema()
    missing = [f"{f.name}: {f.type}" for f in _REQUIRED if schema.field(f.name).type != f.type] \
        if all(f.name in schema.names for f in _REQUIRED) else [f.name for f in _REQUIRED if f.name not in schema.names]
    if missing:
        raise DataError(f"{files[0]} is not a madray results file (it lacks {', '.join(missing)}). {FIX}")
    return schema


def _same_columns(actual: pa.Schema, expected: pa.Schema) -> str | None:
    """How `actual` differs from `expected` in names, order and types, in words; None if it does not."""
    if actual.names != expected.names:
        extra = [n for n in actual.names if n not in expected.names]
        missing = [n for n in expected.names if n not in actual.names]
        return f"columns differ (extra: {extra or 'none'}, missing: {missing or 'none'})" if extra or missing \
            else "columns are in another order"
    wrong = [f"{a.name} is {a.type}, not {e.type}" for a, e in zip(actual, expected) if a.type != e.type]
    return "; ".join(wrong) or None


def _column_range(meta: pq.FileMetaData, name: str) -> tuple | None:
    """(min, max) of a column over all row groups from the footer statistics; None if unknown."""
    index = meta.schema.names.index(name)
    stats = [meta.row_group(i).column(index).statistics for i in range(meta.num_row_groups)]
    if not stats or any(s is None or not s.has_min_max for s in stats):
        return None
    return min(s.min for s in stats), max(s.max for s in stats)


def check_file(fs: pafs.FileSystem, root: str, path: str, expected: pa.Schema, trial_ids: set[str] | None) -> None:
    """Raise DataError unless `path` (under the results folder `root`) is a file of this sweep."""
    place = _PLACE.fullmatch(path[len(root.rstrip("/")) + 1:])
    if place is None:
        raise DataError(f"{path} is not where madray puts results. {FIX}")
    trial_id, generation = place.group(1), int(place.group(2))
    if trial_ids is not None and trial_id not in trial_ids:
        raise DataError(f"{path}: trial {trial_id!r} is not a trial of this sweep (see sweep.yaml). {FIX}")
    meta = _footer(fs, path)
    difference = _same_columns(meta.schema.to_arrow_schema(), expected)
    if difference:
        raise DataError(f"{path} does not have the sweep's schema: {difference}. {FIX}")
    claims = {"generation": generation}
    name = (expected.metadata or {}).get(b"madray.sweep")
    if name is not None:
        claims["sweep"] = name.decode()
    for column, want in claims.items():
        got = _column_range(meta, column) if meta.num_rows else None
        if got is not None and tuple(got) != (want, want):
            raise DataError(f"{path}: its rows have {column} {got[0]}..{got[1]}, but it sits where "
                            f"{column} {want} belongs. {FIX}")


def check_files(fs: pafs.FileSystem, root: str, files: list[str], expected: pa.Schema,
                trial_ids: set[str] | None) -> None:
    for path in files:
        check_file(fs, root, path, expected, trial_ids)


def no_results_yet(path: str, sweep_folder: str) -> FileNotFoundError:
    """A sweep folder (it has sweep.yaml) whose run stopped before any trial finished a generation: not
    foreign files to move away or a run to delete, but one to resume."""
    out = sweep_folder.rstrip("/").rsplit("/", 1)[0] or "."
    return FileNotFoundError(
        f"{path} holds no results yet: its run stopped before any trial finished its first generation. "
        f"Resume it with the command that started it (the same sweep file and --set options): "
        f"`madray run <sweep file> --out {out}`; --overwrite is not needed")
