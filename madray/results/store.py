"""Writing and reading a sweep's hive-partitioned Parquet dataset.

Layout of `<out>/<sweep name>/`:
    sweep.yaml                                the resolved sweep (spec + every trial's config)
    results/trial_id=<id>/gen-000001.parquet  one file per trial and generation
    artifacts/<id>/gen-000001-<name>          files a family keeps per generation (sample grids)
Each file is written under a hidden temporary name and renamed, so a crash never
leaves a half-written file that `load_results` would read; a crash loses at most
the generation in progress.
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from madray.results.schema import PARTITION_COLUMN, file_schema

RESULTS_DIR = "results"
ARTIFACTS_DIR = "artifacts"
SWEEP_FILE = "sweep.yaml"


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local path or a URI (s3://, file://, ...)."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    import os

    return pafs.LocalFileSystem(), os.path.abspath(uri)


def join(*parts: str) -> str:
    return "/".join(p.rstrip("/") for p in parts)


def generation_file(root: str, trial_id: str, generation: int) -> str:
    return join(root, RESULTS_DIR, f"{PARTITION_COLUMN}={trial_id}", f"gen-{generation:06d}.parquet")


class ResultWriter:
    """Writes one trial-generation's rows as one Parquet file, atomically."""

    def __init__(self, root_uri: str, schema: pa.Schema) -> None:
        self.fs, self.root = filesystem(root_uri)
        self.schema = file_schema(schema)

    def write(self, trial_id: str, generation: int, rows: list[dict[str, Any]]) -> str:
        table = pa.Table.from_pylist(rows, schema=self.schema)  # extra keys (trial_id) are dropped
        final = generation_file(self.root, trial_id, generation)
        folder = final.rsplit("/", 1)[0]
        self.fs.create_dir(folder, recursive=True)
        tmp = join(folder, f".tmp-{uuid.uuid4().hex}.parquet")
        pq.write_table(table, tmp, filesystem=self.fs)
        self.fs.move(tmp, final)
        return final

    def write_artifact(self, trial_id: str, generation: int, name: str, content: bytes) -> str:
        folder = join(self.root, ARTIFACTS_DIR, trial_id)
        self.fs.create_dir(folder, recursive=True)
        final = join(folder, f"gen-{generation:06d}-{name}")
        tmp = join(folder, f".tmp-{uuid.uuid4().hex}")
        with self.fs.open_output_stream(tmp) as f:
            f.write(content)
        self.fs.move(tmp, final)
        return final


def results_path(path: str) -> tuple[pafs.FileSystem, str]:
    """Accept a sweep folder (with results/ inside) or the results folder itself."""
    fs, root = filesystem(path)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"no madray results at {path!r}: the path does not exist")
    inner = join(root, RESULTS_DIR)
    if fs.get_file_info(inner).type == pafs.FileType.Directory:
        return fs, inner
    return fs, root


def load_table(path: str) -> pa.Table:
    fs, root = results_path(path)
    partitioning = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")
    dataset = ds.dataset(root, filesystem=fs, format="parquet", partitioning=partitioning)
    if not dataset.files:
        raise FileNotFoundError(f"no madray results at {path!r}: no Parquet files under {root}")
    return dataset.to_table()


def load_results(path: str) -> pd.DataFrame:
    """All rows of a sweep as a DataFrame, sorted by trial, replicate and generation."""
    df = load_table(path).to_pandas()
    df[PARTITION_COLUMN] = df[PARTITION_COLUMN].astype(str)
    first = ["sweep", PARTITION_COLUMN]
    df = df[first + [c for c in df.columns if c not in first]]
    return df.sort_values([PARTITION_COLUMN, "replicate", "generation"], ignore_index=True)


def has_results(root_uri: str) -> bool:
    fs, root = filesystem(root_uri)
    return fs.get_file_info(join(root, RESULTS_DIR)).type != pafs.FileType.NotFound


def prepare_output(root_uri: str, sweep_yaml: str, overwrite: bool = False) -> None:
    """Create the sweep folder and write the resolved sweep; refuse to mix two runs' results."""
    fs, root = filesystem(root_uri)
    if has_results(root_uri):
        if not overwrite:
            raise FileExistsError(
                f"{root_uri} already holds results of a sweep; pass --overwrite to delete and replace them, "
                f"or choose another --out"
            )
        fs.delete_dir(root)
    fs.create_dir(root, recursive=True)
    with fs.open_output_stream(join(root, SWEEP_FILE)) as f:
        f.write(sweep_yaml.encode())
