"""Writing and reading a sweep's hive-partitioned Parquet dataset.

Layout of `<out>/<sweep name>/`:
    sweep.yaml                                the resolved sweep (spec + every trial's config)
    results/trial_id=<id>/gen-000001.parquet  one file per trial and generation
    artifacts/<id>/gen-000001-<name>          files a family keeps per generation (sample grids)
    checkpoints/<id>/gen-000001.npz           the trial's newest checkpoint (madray/sweep/checkpoint.py)
    failures/<id>.json                        why and at which generation a trial failed
    boundary.parquet                          a boundary search's table (madray/search), one row per grid point
    .madray-owner.json                        written when madray creates the folder: only such a folder
                                              may be deleted (--overwrite)
    .madray-lock                              held (fcntl) by the one run that uses the folder
    results-schema.arrow                      the sweep's Arrow schema; load_results checks every file against it
Each file is written under a hidden temporary name and renamed, so a crash never
leaves a half-written file that `load_results` would read; a crash loses at most
the generation in progress. A generation recomputed after a crash is written
under the same name, so it replaces the earlier file instead of adding rows.
Every delete goes through `delete_within`, which refuses any path outside the sweep folder.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import uuid
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from madray.errors import DataError
from madray.results.integrity import check_files, no_results_yet, reference_schema
from madray.results.schema import PARTITION_COLUMN, file_schema

RESULTS_DIR = "results"
ARTIFACTS_DIR = "artifacts"
FAILURES_DIR = "failures"
SWEEP_FILE = "sweep.yaml"
BOUNDARY_FILE = "boundary.parquet"
OWNER_FILE = ".madray-owner.json"
LOCK_FILE = ".madray-lock"
SCHEMA_FILE = "results-schema.arrow"
TMP_PREFIX = ".tmp-"  # hidden: pyarrow datasets skip names starting with "." or "_"


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local path or a URI (s3://, file://, ...)."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def join(*parts: str) -> str:
    return "/".join(p.rstrip("/") for p in parts)


def atomic_write(fs: pafs.FileSystem, final: str, content: bytes) -> str:
    """Write `content` under a temporary name in the same folder, then rename it to `final`."""
    folder = final.rsplit("/", 1)[0]
    fs.create_dir(folder, recursive=True)
    tmp = join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex}")
    with fs.open_output_stream(tmp) as f:
        f.write(content)
    fs.move(tmp, final)
    return final


def list_folder(fs: pafs.FileSystem, folder: str) -> list[pafs.FileInfo]:
    """The entries of a folder; none if it does not exist."""
    return fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))


def is_within(root: str, path: str) -> bool:
    """Whether `path` is `root` or below it, after resolving "." and ".." (never by string prefix alone)."""
    root, path = os.path.normpath(root), os.path.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def delete_within(fs: pafs.FileSystem, root: str, path: str) -> None:
    """Delete the file or folder `path`, which must lie inside the sweep folder `root`."""
    if not is_within(root, path) or os.path.normpath(path) == os.path.normpath(root):
        raise ValueError(f"refusing to delete {path!r}: it is not inside the sweep folder {root!r}")
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)
    else:
        fs.delete_file(path)


def remove_temporaries(fs: pafs.FileSystem, root: str, folder: str) -> None:
    """Delete the temporary files a killed writer left in `folder` (inside the sweep folder `root`)."""
    for info in list_folder(fs, folder):
        if info.base_name.startswith(TMP_PREFIX):
            delete_within(fs, root, info.path)


def trial_folder(root: str, trial_id: str) -> str:
    """A trial's partition folder of the results dataset."""
    return join(root, RESULTS_DIR, f"{PARTITION_COLUMN}={trial_id}")


def generation_file(root: str, trial_id: str, generation: int) -> str:
    return join(trial_folder(root, trial_id), f"gen-{generation:06d}.parquet")


class ResultWriter:
    """Writes one trial-generation's rows as one Parquet file, atomically."""

    def __init__(self, root_uri: str, schema: pa.Schema) -> None:
        self.fs, self.root = filesystem(root_uri)
        self.schema = file_schema(schema)

    def write(self, trial_id: str, generation: int, rows: list[dict[str, Any]]) -> str:
        table = pa.Table.from_pylist(rows, schema=self.schema)  # extra keys (trial_id) are dropped
        final = generation_file(self.root, trial_id, generation)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return atomic_write(self.fs, final, sink.getvalue().to_pybytes())

    def write_artifact(self, trial_id: str, generation: int, name: str, content: bytes) -> str:
        final = join(self.root, ARTIFACTS_DIR, trial_id, f"gen-{generation:06d}-{name}")
        return atomic_write(self.fs, final, content)

    def remove_temporaries(self, trial_id: str) -> None:
        """Clean up after a writer of this trial that was killed mid-write."""
        remove_temporaries(self.fs, self.root, trial_folder(self.root, trial_id))
        remove_temporaries(self.fs, self.root, join(self.root, ARTIFACTS_DIR, trial_id))


def results_path(path: str) -> tuple[pafs.FileSystem, str]:
    """Accept a sweep folder (with results/ inside) or the results folder itself."""
    fs, root = filesystem(path)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no madray results at {path!r}: the path does not exist")
    inner = join(root, RESULTS_DIR)
    if fs.get_file_info(inner).type == pafs.FileType.Directory:
        return fs, inner
    if fs.get_file_info(join(root, SWEEP_FILE)).type == pafs.FileType.File:  # HOOK(faults): a run with no results yet
        raise no_results_yet(path, root)
    return fs, root


def _data_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """Every file under `root` a pyarrow dataset would read (it skips names starting with "." or "_")."""
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    visible = (i for i in infos if i.type == pafs.FileType.File)
    return sorted(i.path for i in visible
                  if not any(part[:1] in "._" for part in i.path[len(root.rstrip("/")) + 1:].split("/")))


def load_table(path: str) -> pa.Table:
    """Every results file of a sweep, each checked against the sweep's schema first (DataError if not)."""
    fs, root = results_path(path)
    files = _data_files(fs, root)
    folder = sweep_folder(root)
    if not files and fs.get_file_info(join(folder, SWEEP_FILE)).type == pafs.FileType.File:  # HOOK(faults)
        raise no_results_yet(path, folder)
    if not files:
        raise FileNotFoundError(f"no madray results at {path!r}: no Parquet files under {root}")
    sweep_text = _read_text(fs, join(folder, SWEEP_FILE))
    trial_ids = _trial_ids(sweep_text) if sweep_text is not None else None
    expected = reference_schema(_read_bytes(fs, join(folder, SCHEMA_FILE)), fs, files)
    check_files(fs, root, files, expected, trial_ids)
    partitioning = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")
    schema = expected.append(pa.field(PARTITION_COLUMN, pa.string()))
    return ds.dataset(files, filesystem=fs, format="parquet", partitioning=partitioning,
                      partition_base_dir=root, schema=schema).to_table()


def _trial_ids(sweep_text: str) -> set[str] | None:
    """The trial ids sweep.yaml lists; None when it lists none (a search adds trials as it goes)."""
    try:
        return {t["trial_id"] for t in yaml.safe_load(sweep_text)["trials"]} or None
    except (yaml.YAMLError, TypeError, KeyError) as e:
        raise DataError(f"{SWEEP_FILE} beside the results cannot be read ({e}); it was not written by madray") from None


def load_results(path: str) -> pd.DataFrame:
    """All rows of a sweep as a DataFrame, sorted by trial, replicate and generation.

    Every file is checked against the sweep's schema first: a file that is not one madray wrote
    for this sweep raises DataError naming it (madray/results/integrity.py)."""
    df = load_table(path).to_pandas()
    df[PARTITION_COLUMN] = df[PARTITION_COLUMN].astype(str)
    first = ["sweep", PARTITION_COLUMN]
    df = df[first + [c for c in df.columns if c not in first]]
    return df.sort_values([PARTITION_COLUMN, "replicate", "generation"], ignore_index=True)


def load_trial(root_uri: str, trial_id: str) -> pd.DataFrame:
    """One trial's rows (its partition folder only), with the trial_id column; empty if it has none."""
    fs, root = filesystem(root_uri)
    files = sorted(i.path for i in list_folder(fs, trial_folder(root, trial_id))
                   if i.base_name.endswith(".parquet") and not i.base_name.startswith(TMP_PREFIX))
    if not files:
        return pd.DataFrame()
    df = ds.dataset(files, filesystem=fs, format="parquet").to_table().to_pandas()
    df.insert(1, PARTITION_COLUMN, trial_id)
    return df.sort_values(["replicate", "generation"], ignore_index=True)


def write_boundary(root_uri: str, table: pd.DataFrame) -> str:
    """Write a boundary search's table (one row per grid point) beside the results, atomically."""
    fs, root = filesystem(root_uri)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), sink)
    return atomic_write(fs, join(root, BOUNDARY_FILE), sink.getvalue().to_pybytes())


def load_boundary(path: str) -> pd.DataFrame | None:
    """The boundary table of a sweep folder (or its results folder); None if it is not a search."""
    fs, root = filesystem(sweep_folder(path))
    target = join(root, BOUNDARY_FILE)
    if fs.get_file_info(target).type != pafs.FileType.File:
        return None
    with fs.open_input_file(target) as f:
        return pq.read_table(f).to_pandas()


def has_results(root_uri: str) -> bool:
    fs, root = filesystem(root_uri)
    return fs.get_file_info(join(root, RESULTS_DIR)).type != pafs.FileType.NotFound


def _read_bytes(fs: pafs.FileSystem, path: str) -> bytes | None:
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read()


def _read_text(fs: pafs.FileSystem, path: str) -> str | None:
    data = _read_bytes(fs, path)
    return None if data is None else data.decode()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_difference(stored: Any, new: Any, where: str = "") -> str | None:
    """Where two resolved sweeps differ first, in words; None if they are equal."""
    if isinstance(stored, dict) and isinstance(new, dict):
        keys = list(dict.fromkeys([*stored, *new]))
        pairs = [(f"{where}.{k}" if where else str(k), stored.get(k), new.get(k)) for k in keys]
    elif isinstance(stored, list) and isinstance(new, list) and len(stored) == len(new):
        pairs = [(f"{where}[{i}]", a, b) for i, (a, b) in enumerate(zip(stored, new))]
    else:
        return None if stored == new else f"{where}: {_short(stored)} there, {_short(new)} now"
    return next((d for key, a, b in pairs if (d := first_difference(a, b, key))), None)


def _version() -> str:
    try:
        return importlib.metadata.version("madray")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _entries(fs: pafs.FileSystem, root: str) -> list[pafs.FileInfo]:
    """What the sweep folder holds besides the run lock (which the runner creates first)."""
    return [i for i in list_folder(fs, root) if i.base_name != LOCK_FILE]


def write_owner(fs: pafs.FileSystem, root: str, sweep_yaml: str) -> None:
    """Mark `root` as created by madray: only a marked folder may be deleted by --overwrite."""
    record = {"created_by": "madray", "madray_version": _version(),
              "sweep_sha256": hashlib.sha256(sweep_yaml.encode()).hexdigest(),
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    atomic_write(fs, join(root, OWNER_FILE), json.dumps(record, indent=1).encode())


def _owned(fs: pafs.FileSystem, root: str) -> bool:
    text = _read_text(fs, join(root, OWNER_FILE))
    try:
        return text is not None and json.loads(text).get("created_by") == "madray"
    except (ValueError, AttributeError):
        return False


def clear_owned_folder(fs: pafs.FileSystem, root: str, root_uri: str) -> None:
    """Delete everything in a folder madray created (keeping the lock the caller holds); refuse any other."""
    if "://" not in root_uri and os.path.islink(root):
        raise FileExistsError(f"{root_uri} is a symbolic link; --overwrite deletes only a folder madray created there")
    if not _owned(fs, root):
        raise FileExistsError(
            f"{root_uri} was not created by madray (it has no {OWNER_FILE}), so --overwrite will not delete it: "
            f"it may hold files that are not madray's. Move or delete it yourself, or choose another --out")
    for info in _entries(fs, root):
        delete_within(fs, root, info.path)


def prepare_output(root_uri: str, sweep_yaml: str, overwrite: bool = False, resume: bool = False,
                   schema: pa.Schema | None = None) -> bool:
    """Make the sweep folder ready for a run of `sweep_yaml` (the resolved sweep); True if resuming.

    A folder that already holds a run of the same resolved sweep is resumed; one that
    holds another sweep is refused (never mixed); `overwrite` empties it first, but only if madray
    created it (OWNER_FILE); `resume` requires a run to resume. A folder that is new (or empty)
    gets OWNER_FILE; `schema` is kept beside the results for `load_results` to check files against.
    """
    fs, root = filesystem(root_uri)
    if overwrite and _entries(fs, root):
        clear_owned_folder(fs, root, root_uri)
        write_owner(fs, root, sweep_yaml)
    stored = _read_text(fs, join(root, SWEEP_FILE))
    if stored is not None:
        difference = first_difference(yaml.safe_load(stored), yaml.safe_load(sweep_yaml))
        if difference:
            raise FileExistsError(
                f"{root_uri} holds a run of a different sweep ({difference}); resume it with the same sweep "
                f"file and --set options, pass --overwrite to delete it and start again, or choose another --out"
            )
        _write_schema(fs, root, schema, replace=False)
        return True
    if has_results(root_uri):
        raise FileExistsError(f"{root_uri} holds results but no {SWEEP_FILE}; pass --overwrite to delete them "
                              f"and start again, or choose another --out")
    if resume:
        raise FileNotFoundError(f"nothing to resume at {root_uri}: no {SWEEP_FILE} there; run without --resume")
    if not _entries(fs, root):  # madray creates this folder now (or it is empty): it is madray's
        write_owner(fs, root, sweep_yaml)
    _write_schema(fs, root, schema, replace=True)
    atomic_write(fs, join(root, SWEEP_FILE), sweep_yaml.encode())
    return False


def _write_schema(fs: pafs.FileSystem, root: str, schema: pa.Schema | None, replace: bool) -> None:
    path = join(root, SCHEMA_FILE)
    if schema is not None and (replace or fs.get_file_info(path).type == pafs.FileType.NotFound):
        atomic_write(fs, path, file_schema(schema).serialize().to_pybytes())


# --------------------------------------------------------------------------- failure records
FAILURE_COLUMNS = ["trial_id", "generation", "kind", "error"]


def sweep_folder(path: str) -> str:
    """A sweep folder from itself or its results folder."""
    path = path.rstrip("/")
    return path[: -len(RESULTS_DIR) - 1] if path.endswith("/" + RESULTS_DIR) else path


def failure_file(root: str, trial_id: str) -> str:
    return join(root, FAILURES_DIR, f"{trial_id}.json")


def write_failure(root_uri: str, trial_id: str, generation: int, kind: str, error: str, details: str = "") -> str:
    """Record that a trial failed at `generation` (kind: diverged, exception or crashed)."""
    fs, root = filesystem(root_uri)
    record = {"trial_id": trial_id, "generation": generation, "kind": kind, "error": error, "details": details}
    return atomic_write(fs, failure_file(root, trial_id), json.dumps(record, indent=1).encode())


def read_failure(root_uri: str, trial_id: str) -> dict[str, Any] | None:
    """A trial's failure record, or None if it has none."""
    fs, root = filesystem(root_uri)
    text = _read_text(fs, failure_file(root, trial_id))
    return None if text is None else json.loads(text)


def clear_failure(root_uri: str, trial_id: str) -> None:
    """Forget an earlier failure of a trial that has now completed."""
    fs, root = filesystem(root_uri)
    if fs.get_file_info(failure_file(root, trial_id)).type == pafs.FileType.File:
        delete_within(fs, root, failure_file(root, trial_id))


def load_failures(path: str) -> pd.DataFrame:
    """One row per failed trial of a sweep (columns trial_id, generation, kind, error); empty if none failed."""
    fs, root = filesystem(sweep_folder(path))
    records = []
    for info in list_folder(fs, join(root, FAILURES_DIR)):
        if info.base_name.endswith(".json") and not info.base_name.startswith(TMP_PREFIX):
            records.append(json.loads(_read_text(fs, info.path)))
    df = pd.DataFrame(records, columns=FAILURE_COLUMNS + ["details"])[FAILURE_COLUMNS]
    return df.sort_values("trial_id", ignore_index=True)
