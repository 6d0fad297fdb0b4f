"""The sweep folder `<out>/<sweep name>/`: the only place that knows its layout.

    sweep.yaml                                the resolved sweep (spec + every trial's config)
    results-schema.arrow                      the Arrow schema every results file is checked against
    results/trial_id=<id>/gen-000001.parquet  one file per trial and generation
    artifacts/<id>/gen-000001-<name>          files a family keeps per generation (sample grids)
    checkpoints/<id>/gen-000001.npz           the trial's newest checkpoint (madray/sweep/checkpoint.py)
    samples/<id>/gen-000001.npz               a generation's samples, written once (madray/sweep/samples.py)
    failures/<id>.json                        why and at which generation a trial failed
    boundary.parquet                          a boundary search's table (madray/search)
    work/<id>/                                a trial's own working folder (families that run programs)
    tracking/                                 with trackers only: their settings and a run record per trial
    _tune/                                    Ray Tune's experiment state (never needed to resume)
    .madray-owner.json                        "madray created this folder": only such a folder is emptied
    .madray-lock                              held (fcntl) by the one run that uses the folder
    .madray-stop                              asks the run's trials to stop at their next generation boundary

A generation recomputed after a crash is written under the same name, so it replaces the earlier
file instead of adding rows; a crash loses at most the generation in progress.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import importlib.metadata
import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from madray.errors import BusyError, clip
from madray.results.files import (
    TMP_PREFIX,
    atomic_write,
    delete_within,
    filesystem,
    join,
    list_folder,
    read_bytes,
    remove_temporaries,
)
from madray.results.schema import PARTITION_COLUMN, file_schema

RESULTS_DIR = "results"
ARTIFACTS_DIR = "artifacts"
CHECKPOINTS_DIR = "checkpoints"
SAMPLES_DIR = "samples"
FAILURES_DIR = "failures"
WORK_DIR = "work"
TRACKING_DIR = "tracking"
TUNE_DIR = "_tune"
SWEEP_FILE = "sweep.yaml"
BOUNDARY_FILE = "boundary.parquet"
OWNER_FILE = ".madray-owner.json"
LOCK_FILE = ".madray-lock"
STOP_FILE = ".madray-stop"
SCHEMA_FILE = "results-schema.arrow"
FAILURE_COLUMNS = ["trial_id", "generation", "kind", "error"]


class SweepFolder:
    """A sweep folder on a local path, NFS or s3:// (its filesystem resolved once)."""

    def __init__(self, uri: str) -> None:
        uri = uri.rstrip("/")
        if uri.endswith("/" + RESULTS_DIR):  # its results folder names it too
            uri = uri[: -len(RESULTS_DIR) - 1]
        self.uri = uri
        self.fs, self.root = filesystem(uri)

    @classmethod
    def of(cls, out: str, name: str) -> SweepFolder:
        """The folder of sweep `name` under `--out`."""
        return cls(join(out if "://" in out else os.path.abspath(out), name))

    @property
    def local(self) -> bool:
        return "://" not in self.uri

    def __reduce__(self):  # travels to Ray workers as its location; each resolves the filesystem once
        return SweepFolder, (self.uri,)

    def __repr__(self) -> str:
        return f"SweepFolder({self.uri!r})"

    # ------------------------------------------------------------------ layout
    def path(self, *parts: str) -> str:
        return join(self.root, *parts)

    @property
    def results_dir(self) -> str:
        return self.path(RESULTS_DIR)

    def trial_results(self, trial_id: str) -> str:
        """A trial's partition folder of the results dataset."""
        return self.path(RESULTS_DIR, f"{PARTITION_COLUMN}={trial_id}")

    def generation_file(self, trial_id: str, generation: int) -> str:
        return join(self.trial_results(trial_id), f"gen-{generation:06d}.parquet")

    def artifacts(self, trial_id: str) -> str:
        return self.path(ARTIFACTS_DIR, trial_id)

    def artifact_file(self, trial_id: str, generation: int, name: str) -> str:
        return join(self.artifacts(trial_id), f"gen-{generation:06d}-{name}")

    def checkpoints(self, trial_id: str) -> str:
        return self.path(CHECKPOINTS_DIR, trial_id)

    def checkpoint_file(self, trial_id: str, generation: int) -> str:
        return join(self.checkpoints(trial_id), f"gen-{generation:06d}.npz")

    def samples(self, trial_id: str) -> str:
        return self.path(SAMPLES_DIR, trial_id)

    def samples_file(self, trial_id: str, key: str) -> str:
        return join(self.samples(trial_id), f"{key}.npz")

    def failure_file(self, trial_id: str) -> str:
        return self.path(FAILURES_DIR, f"{trial_id}.json")

    def work(self, trial_id: str) -> str:
        """A trial's own working folder (local paths only: programs run there)."""
        return self.path(WORK_DIR, trial_id)

    def tracking(self, *parts: str) -> str:
        """Where the trackers keep their settings and run records (madray/tracking; local folders only)."""
        return self.path(TRACKING_DIR, *parts)

    @property
    def tune_dir(self) -> str:
        return self.path(TUNE_DIR)

    # ------------------------------------------------------------------ plain file access inside the folder
    def write(self, path: str, content: bytes) -> str:
        return atomic_write(self.fs, path, content)

    def read(self, path: str) -> bytes | None:
        return read_bytes(self.fs, path)

    def read_text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode()

    def is_file(self, path: str) -> bool:
        return self.fs.get_file_info(path).type == pafs.FileType.File

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def listing(self, path: str) -> list[pafs.FileInfo]:
        return list_folder(self.fs, path)

    def delete(self, path: str) -> None:
        delete_within(self.fs, self.root, path)

    def remove_temporaries(self, trial_id: str) -> None:
        """Clean up after a writer of this trial that was killed mid-write."""
        for folder in (self.trial_results(trial_id), self.artifacts(trial_id), self.checkpoints(trial_id),
                       self.samples(trial_id)):
            remove_temporaries(self.fs, self.root, folder)

    # ------------------------------------------------------------------ results
    def write_rows(self, trial_id: str, generation: int, rows: list[dict[str, Any]], schema: pa.Schema) -> str:
        """One trial-generation's rows as one Parquet file (`schema`: the file schema, results/schema.py)."""
        table = pa.Table.from_pylist(rows, schema=schema)  # extra keys (trial_id) are dropped
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return self.write(self.generation_file(trial_id, generation), sink.getvalue().to_pybytes())

    def write_artifact(self, trial_id: str, generation: int, name: str, content: bytes) -> str:
        return self.write(self.artifact_file(trial_id, generation, name), content)

    def trial_files(self, trial_id: str) -> list[str]:
        """A trial's results files, oldest generation first."""
        return sorted(i.path for i in self.listing(self.trial_results(trial_id))
                      if i.base_name.endswith(".parquet") and not i.base_name.startswith(TMP_PREFIX))

    def write_boundary(self, table: pd.DataFrame) -> str:
        """A boundary search's table (one row per grid point)."""
        sink = pa.BufferOutputStream()
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), sink)
        return self.write(self.path(BOUNDARY_FILE), sink.getvalue().to_pybytes())

    def has_results(self) -> bool:
        return self.exists(self.results_dir)

    # ------------------------------------------------------------------ failure records
    def write_failure(self, trial_id: str, generation: int, kind: str, error: str, details: str = "") -> str:
        """Record that a trial failed at `generation` (kind: diverged, exception or crashed)."""
        record = {"trial_id": trial_id, "generation": generation, "kind": kind, "error": error, "details": details}
        return self.write(self.failure_file(trial_id), json.dumps(record, indent=1).encode())

    def read_failure(self, trial_id: str) -> dict[str, Any] | None:
        text = self.read_text(self.failure_file(trial_id))
        return None if text is None else json.loads(text)

    def clear_failure(self, trial_id: str) -> None:
        """Forget an earlier failure of a trial that has now completed."""
        if self.is_file(self.failure_file(trial_id)):
            self.delete(self.failure_file(trial_id))

    def failures(self) -> pd.DataFrame:
        """One row per failed trial (trial_id, generation, kind, error); empty if none failed."""
        records = [json.loads(self.read_text(i.path)) for i in self.listing(self.path(FAILURES_DIR))
                   if i.base_name.endswith(".json") and not i.base_name.startswith(TMP_PREFIX)]
        df = pd.DataFrame(records, columns=FAILURE_COLUMNS + ["details"])[FAILURE_COLUMNS]
        return df.sort_values("trial_id", ignore_index=True)

    # ------------------------------------------------------------------ stopping a run (SIGINT, SIGTERM)
    def request_stop(self) -> None:
        self.write(self.path(STOP_FILE), b"stop at the next generation boundary\n")

    def stop_requested(self) -> bool:
        return self.is_file(self.path(STOP_FILE))

    def clear_stop(self) -> None:
        if self.stop_requested():
            self.delete(self.path(STOP_FILE))

    # ------------------------------------------------------------------ the run lock
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One run per folder: an exclusive flock, taken before anything is touched (before --overwrite
        deletes), dropped by the kernel when the process dies. Object stores have no locks: there the
        rule is one run per prefix (docs/reliability.md)."""
        if not self.local:
            yield
            return
        created = not os.path.exists(self.root)
        os.makedirs(self.root, exist_ok=True)
        lock = os.path.join(self.root, LOCK_FILE)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "holder not yet recorded"
                raise BusyError(f"{self.uri} is in use by another madray run ({holder}); wait for it to end, "
                                f"or run this sweep with another --out") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, _holder().encode(), 0)
            yield
            os.ftruncate(fd, 0)
        finally:
            if created and os.listdir(self.root) == [LOCK_FILE]:  # refused before writing: leave no folder
                os.unlink(lock)
                os.rmdir(self.root)
            os.close(fd)  # closing the descriptor releases the lock

    # ------------------------------------------------------------------ ownership and preparing a run
    def _entries(self) -> list[pafs.FileInfo]:
        """What the folder holds besides the run lock (which the runner creates first)."""
        return [i for i in self.listing(self.root) if i.base_name != LOCK_FILE]

    def owned(self) -> bool:
        text = self.read_text(self.path(OWNER_FILE))
        try:
            return text is not None and json.loads(text).get("created_by") == "madray"
        except (ValueError, AttributeError):
            return False

    def write_owner(self, sweep_yaml: str) -> None:
        """Mark the folder as created by madray: only a marked folder may be emptied by --overwrite."""
        record = {"created_by": "madray", "madray_version": _version(),
                  "sweep_sha256": hashlib.sha256(sweep_yaml.encode()).hexdigest(),
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.write(self.path(OWNER_FILE), json.dumps(record, indent=1).encode())

    def clear(self) -> None:
        """Delete everything in a folder madray created (keeping the lock the caller holds); refuse any other."""
        if self.local and os.path.islink(self.root):
            raise FileExistsError(f"{self.uri} is a symbolic link; --overwrite deletes only a folder madray created there")
        if not self.owned():
            raise FileExistsError(
                f"{self.uri} was not created by madray (it has no {OWNER_FILE}), so --overwrite will not delete it: "
                f"it may hold files that are not madray's. Move or delete it yourself, or choose another --out")
        for info in self._entries():
            self.delete(info.path)

    def prepare(self, sweep_yaml: str, schema: pa.Schema | None = None, overwrite: bool = False,
                resume: bool = False) -> bool:
        """Make the folder ready for a run of `sweep_yaml` (the resolved sweep); True if resuming.

        A folder that holds a run of the same resolved sweep is resumed; one that holds another sweep is
        refused (never mixed); `overwrite` empties it first, but only if madray created it; `resume`
        requires a run to resume. `schema` is kept beside the results for `load_results` to check against.
        """
        if overwrite and self._entries():
            self.clear()
            self.write_owner(sweep_yaml)
        stored = self.read_text(self.path(SWEEP_FILE))
        if stored is not None:
            difference = first_difference(yaml.safe_load(stored), yaml.safe_load(sweep_yaml))
            if difference:
                raise FileExistsError(
                    f"{self.uri} holds a run of a different sweep ({difference}); resume it with the same sweep "
                    f"file and --set options, pass --overwrite to delete it and start again, or choose another --out")
            self._write_schema(schema, replace=False)
            return True
        if self.has_results():
            raise FileExistsError(f"{self.uri} holds results but no {SWEEP_FILE}; pass --overwrite to delete them "
                                  f"and start again, or choose another --out")
        if resume:
            raise FileNotFoundError(f"nothing to resume at {self.uri}: no {SWEEP_FILE} there; run without --resume")
        if not self._entries():  # madray creates this folder now (or it is empty): it is madray's
            self.write_owner(sweep_yaml)
        self._write_schema(schema, replace=True)
        self.write(self.path(SWEEP_FILE), sweep_yaml.encode())
        return False

    def _write_schema(self, schema: pa.Schema | None, replace: bool) -> None:
        path = self.path(SCHEMA_FILE)
        if schema is not None and (replace or not self.exists(path)):
            self.write(path, file_schema(schema).serialize().to_pybytes())

    def sweep_text(self) -> str | None:
        return self.read_text(self.path(SWEEP_FILE))

    def stored_schema(self) -> bytes | None:
        return self.read(self.path(SCHEMA_FILE))


def _holder() -> str:
    since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return f"host {socket.gethostname()}, pid {os.getpid()}, since {since}"


def _version() -> str:
    try:
        return importlib.metadata.version("madray")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def first_difference(stored: Any, new: Any, where: str = "") -> str | None:
    """Where two resolved sweeps differ first, in words; None if they are equal."""
    if isinstance(stored, dict) and isinstance(new, dict):
        keys = list(dict.fromkeys([*stored, *new]))
        pairs = [(f"{where}.{k}" if where else str(k), stored.get(k), new.get(k)) for k in keys]
    elif isinstance(stored, list) and isinstance(new, list) and len(stored) == len(new):
        pairs = [(f"{where}[{i}]", a, b) for i, (a, b) in enumerate(zip(stored, new))]
    else:
        return None if stored == new else f"{where}: {clip(repr(stored), 60)} there, {clip(repr(new), 60)} now"
    return next((d for key, a, b in pairs if (d := first_difference(a, b, key))), None)
