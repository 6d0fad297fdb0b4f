"""Each generation's samples written once, per trial and generation; checkpoints refer to them.

A loop's pool (the n_ini real samples, the synthetic samples of the generations it keeps) used to
be inside every checkpoint, so an accumulate loop rewrote every earlier generation's samples at every
generation: bytes written grew with the square of the generations. Now each batch is one file,
`samples/<trial_id>/<key>.npz` (key `real-initial` or `gen-000007`), written when it first enters the
pool, and the checkpoint holds its key and SHA-256 instead of its arrays. A checkpoint whose files
are missing or altered is refused as a whole (`MissingSamples`), so a resume never trains on other data.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np

from madray.batch import Batch
from madray.results.folder import SweepFolder

REAL_INITIAL = "real-initial"
REFS = "refs"  # the state_dict entry (dict of arrays) that replaces the pool in a checkpoint


class MissingSamples(ValueError):
    """A checkpoint refers to a samples file that is missing or whose checksum differs."""


def generation_key(generation: int) -> str:
    return f"gen-{generation:06d}"


def _encode(batch: Batch) -> bytes:
    out = io.BytesIO()
    np.savez(out, **{k: np.asarray(v) for k, v in batch.items()})
    return out.getvalue()


def _decode(data: bytes) -> Batch:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


class SampleStore:
    """One trial's samples files; `known` maps each key already written to its SHA-256."""

    def __init__(self, folder: SweepFolder, trial_id: str) -> None:
        self.folder, self.trial_id = folder, trial_id
        self.known: dict[str, str] = {}

    def put(self, key: str, batch: Batch) -> str:
        """Write `batch` under `key` unless it is there already; its SHA-256."""
        if key not in self.known:
            content = _encode(batch)
            self.folder.write(self.folder.samples_file(self.trial_id, key), content)
            self.known[key] = hashlib.sha256(content).hexdigest()
        return self.known[key]

    def get(self, key: str, sha256: str) -> Batch:
        content = self.folder.read(self.folder.samples_file(self.trial_id, key))
        if content is None or hashlib.sha256(content).hexdigest() != sha256:
            state = "missing" if content is None else "altered"
            raise MissingSamples(f"{self.folder.samples_file(self.trial_id, key)} is {state}")
        self.known[key] = sha256
        return _decode(content)

    # ------------------------------------------------------------------ checkpoints by reference
    def externalize(self, saved: dict[str, Any], pool_generations: list[int]) -> dict[str, Any]:
        """`Trial.state_dict()` with its pool written to files and replaced by references."""
        keys = [generation_key(g) for g in pool_generations]
        sums = [self.put(k, batch) for k, batch in zip(keys, saved["synthetic"])]
        refs = {"synthetic_keys": np.asarray(keys, dtype="U16"), "synthetic_sha256": np.asarray(sums, dtype="U64")}
        if saved["real_initial"]:
            refs["real_initial_sha256"] = np.asarray(self.put(REAL_INITIAL, saved["real_initial"]), dtype="U64")
        return {**saved, "real_initial": {}, "synthetic": [], REFS: refs}

    def internalize(self, saved: dict[str, Any]) -> dict[str, Any]:
        """Inverse of `externalize` (a checkpoint without references is returned as it is)."""
        refs = saved.get(REFS)
        if not refs:
            return saved
        keys, sums = (np.atleast_1d(refs[k]).tolist() for k in ("synthetic_keys", "synthetic_sha256"))
        real = str(refs["real_initial_sha256"]) if "real_initial_sha256" in refs else None
        return {**{k: v for k, v in saved.items() if k != REFS},
                "synthetic": [self.get(k, s) for k, s in zip(keys, sums)],
                "real_initial": self.get(REAL_INITIAL, real) if real else {}}

    def forget_before(self, generation: int) -> None:
        """Delete the generation files older than `generation` (no kept checkpoint refers to them)."""
        for info in self.folder.listing(self.folder.samples(self.trial_id)):
            name = info.base_name
            if name.startswith("gen-") and name.endswith(".npz") and int(name[4:10]) < generation:
                self.folder.delete(info.path)
                self.known.pop(name[:-4], None)
