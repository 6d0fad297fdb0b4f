"""Reading a sweep's results: the public readers `load_results`, `load_boundary`, `load_failures`.

Every results file is checked against the sweep's schema before any is read (integrity.py); the
layout they read is the sweep folder's (folder.py).
"""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from madray.errors import DataError, IncompleteWarning
from madray.results.folder import BOUNDARY_FILE, SWEEP_FILE, SweepFolder
from madray.results.integrity import check_files, no_results_yet, reference_schema
from madray.results.schema import PARTITION_COLUMN


def results_root(path: str) -> tuple[SweepFolder, str]:
    """The sweep folder of `path` (a sweep folder or its results folder) and the folder holding its results."""
    folder = SweepFolder(path)
    info = folder.fs.get_file_info(folder.root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no madray results at {path!r}: the path does not exist")
    if folder.fs.get_file_info(folder.results_dir).type == pafs.FileType.Directory:
        return folder, folder.results_dir
    if folder.sweep_text() is not None:  # a run with no results yet (killed before its first generation)
        raise no_results_yet(path, folder.root)
    return folder, folder.root  # a bare folder of trial_id=<id> partitions


def _data_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """Every file under `root` a pyarrow dataset would read (it skips names starting with "." or "_")."""
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    visible = (i for i in infos if i.type == pafs.FileType.File)
    return sorted(i.path for i in visible
                  if not any(part[:1] in "._" for part in i.path[len(root.rstrip("/")) + 1:].split("/")))


def load_table(path: str) -> pa.Table:
    """Every results file of a sweep, each checked against the sweep's schema first (DataError if not)."""
    return _load(path)[0]


def _load(path: str) -> tuple[pa.Table, list[dict] | None]:
    """The checked results table and the trials sweep.yaml lists (None without a sweep.yaml), read once."""
    folder, root = results_root(path)
    files = _data_files(folder.fs, root)
    sweep_text = folder.sweep_text()
    if not files and sweep_text is not None:
        raise no_results_yet(path, folder.root)
    if not files:
        raise FileNotFoundError(f"no madray results at {path!r}: no Parquet files under {root}")
    trials = _trials(sweep_text) if sweep_text is not None else None
    expected = reference_schema(folder.stored_schema(), folder.fs, files)
    check_files(folder.fs, root, files, expected, {t["trial_id"] for t in trials or ()} or None)
    partitioning = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")
    schema = expected.append(pa.field(PARTITION_COLUMN, pa.string()))
    table = ds.dataset(files, filesystem=folder.fs, format="parquet", partitioning=partitioning,
                       partition_base_dir=root, schema=schema).to_table()
    return table, trials


def _trials(sweep_text: str) -> list[dict]:
    try:
        return list(yaml.safe_load(sweep_text)["trials"])
    except (yaml.YAMLError, TypeError, KeyError) as e:
        raise DataError(f"{SWEEP_FILE} beside the results cannot be read ({e}); it was not written by madray") from None


def incomplete_trials(path: str, df: pd.DataFrame | None = None, trials: list[dict] | None = None) -> list[str]:
    """The trials sweep.yaml lists (or `trials`) that have fewer rows than replicates × generations and did
    not fail (their run was interrupted: running the same command again completes them)."""
    folder = SweepFolder(path)
    if trials is None:
        text = folder.sweep_text()
        trials = _trials(text) if text is not None else []
    if not trials:  # no sweep.yaml, or a search's (its trials are made as it goes)
        return []
    counts = (df if df is not None else load_results(path, warn=False))[PARTITION_COLUMN].value_counts()
    failed = set(folder.failures()["trial_id"])
    return sorted(t["trial_id"] for t in trials if t["trial_id"] not in failed
                  and counts.get(t["trial_id"], 0) < t["replicates"] * t["generations"])


def load_results(path: str, warn: bool = True) -> pd.DataFrame:
    """All rows of a sweep as a DataFrame, sorted by trial, replicate and generation.

    Every file is checked against the sweep's schema first: a file that is not one madray wrote
    for this sweep raises DataError naming it (madray/results/integrity.py). If some trials have not
    finished (an interrupted run), an IncompleteWarning names them (`incomplete_trials`)."""
    table, trials = _load(path)
    df = table.to_pandas()
    df[PARTITION_COLUMN] = df[PARTITION_COLUMN].astype(str)
    first = ["sweep", PARTITION_COLUMN]
    df = df[first + [c for c in df.columns if c not in first]]
    df = df.sort_values([PARTITION_COLUMN, "replicate", "generation"], ignore_index=True)
    if warn and (missing := incomplete_trials(path, df, trials)):
        warnings.warn(incomplete_message(missing), IncompleteWarning, stacklevel=2)
    return df


def incomplete_message(missing: list[str]) -> str:
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return (f"{len(missing)} trial(s) have not finished ({shown}): their run was interrupted; running the same "
            f"`madray run` command again completes them")


def load_trial(folder: SweepFolder, trial_id: str) -> pd.DataFrame:
    """One trial's rows (its partition folder only), with the trial_id column; empty if it has none."""
    files = folder.trial_files(trial_id)
    if not files:
        return pd.DataFrame()
    df = ds.dataset(files, filesystem=folder.fs, format="parquet").to_table().to_pandas()
    df.insert(1, PARTITION_COLUMN, trial_id)
    return df.sort_values(["replicate", "generation"], ignore_index=True)


def load_boundary(path: str) -> pd.DataFrame | None:
    """The boundary table of a sweep folder (or its results folder); None if it is not a search."""
    folder = SweepFolder(path)
    target = folder.path(BOUNDARY_FILE)
    if not folder.is_file(target):
        return None
    with folder.fs.open_input_file(target) as f:
        return pq.read_table(f).to_pandas()


def load_failures(path: str) -> pd.DataFrame:
    """One row per failed trial of a sweep (columns trial_id, generation, kind, error); empty if none failed."""
    return SweepFolder(path).failures()


def sweep_folder(path: str) -> str:
    """A sweep folder's location from itself or its results folder."""
    return SweepFolder(path).uri
