"""Per-generation trial checkpoints: one self-contained `.npz` file per trial, the newest kept.

The newest file and the one before it are kept: a new file is read back and compared with what was
written before older ones are deleted, and a newest file damaged later (a disk error, a truncated
copy) falls back to the previous one with a warning naming it. A checkpoint holds
`Trial.state_dict()`: the generation index, the fitted state, the earlier fitted models a loop draws
from and (by reference, sweep/samples.py) the n_ini real samples and the synthetic pool. No RNG
state: every draw is seeded from (seed, generation, stream). No pickle: numpy arrays go into the
`.npz` under flat keys (`state/<k>`, `refs/<k>`, `previous/<i>/<k>`); torch tensors (and structures of
them) go through `torch.save` into one uint8 array `torch` in the same file; reading uses
`np.load(allow_pickle=False)` and `torch.load(weights_only=True)`. Why madray's own file and not
Tune's checkpoint folders: docs/cluster.md#the-checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from madray.errors import clip
from madray.results.files import atomic_write, delete_within
from madray.results.folder import SweepFolder

_NAME = re.compile(r"gen-(\d{6})\.npz$")
_PLAIN = (np.ndarray, np.generic, int, float, bool)
LISTS = ("synthetic", "previous")  # state_dict entries that are lists of dicts of arrays


def _warn(message: str) -> None:
    print(f"madray: warning: {message}", file=sys.stderr, flush=True)


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


def _contains_numpy(value: Any) -> bool:
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    if isinstance(value, dict):
        return any(_contains_numpy(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_numpy(v) for v in value)
    return False


def _flatten(saved: dict[str, Any]) -> dict[str, Any]:
    flat = {f"state/{k}": v for k, v in saved["state"].items()}
    flat.update({f"real_initial/{k}": v for k, v in saved["real_initial"].items()})
    flat.update({f"refs/{k}": v for k, v in saved.get("refs", {}).items()})  # the pool's files (samples.py)
    for part in LISTS:
        for i, batch in enumerate(saved.get(part, [])):
            flat.update({f"{part}/{i:06d}/{k}": v for k, v in batch.items()})
    return flat


def _split(flat: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Numpy values for the .npz; torch tensors and structures for torch.save."""
    arrays, tensors = {}, {}
    for key, value in flat.items():
        if isinstance(value, _PLAIN):
            arr = np.asarray(value)
            if arr.dtype.hasobject:
                raise TypeError(f"checkpoint entry {key!r} is an object array; checkpoints hold numeric arrays only")
            arrays[key] = arr
        elif _contains_numpy(value):
            raise TypeError(f"checkpoint entry {key!r} nests numpy arrays in a {type(value).__name__}; "
                            f"a family state holds numpy arrays or torch tensors, one per key")
        else:
            tensors[key] = value.detach().cpu() if _is_torch(value) else value
    return arrays, tensors


def encode(saved: dict[str, Any]) -> bytes:
    """`Trial.state_dict()` -> the bytes of one .npz file."""
    arrays, tensors = _split(_flatten(saved))
    arrays["generation"] = np.asarray(int(saved["generation"]))
    if saved.get("redraw"):  # the pool is drawn again from the model on resume (Trial.redraws)
        arrays["redraw"] = np.asarray(True)
    for part in LISTS:
        arrays[f"{part}_count"] = np.asarray(len(saved.get(part, [])))
    if tensors:
        import torch

        buffer = io.BytesIO()
        torch.save(tensors, buffer)
        arrays["torch"] = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def decode(data: bytes) -> dict[str, Any]:
    """Inverse of `encode`."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        flat = {key: npz[key] for key in npz.files}
    if "torch" in flat:
        import torch

        flat.update(torch.load(io.BytesIO(flat.pop("torch").tobytes()), weights_only=True, map_location="cpu"))
    saved: dict[str, Any] = {"generation": int(flat.pop("generation")), "state": {}, "real_initial": {}}
    if bool(flat.pop("redraw", False)):
        saved["redraw"] = True
    for part in LISTS:  # checkpoints written before "previous" existed have no previous_count
        count = flat.pop(f"{part}_count", 0)
        saved[part] = [{} for _ in range(int(count))]
    for key, value in flat.items():
        part, _, rest = key.partition("/")
        if part in LISTS:
            index, _, name = rest.partition("/")
            saved[part][int(index)][name] = value
        else:
            saved.setdefault(part, {})[rest] = value
    return saved


class CheckpointStore:
    """The checkpoints of a sweep's trials, on a local path, NFS or s3:// (pyarrow.fs)."""

    def __init__(self, sweep: SweepFolder) -> None:
        self.sweep = sweep
        self.fs, self.root = sweep.fs, sweep.root

    def folder(self, trial_id: str) -> str:
        return self.sweep.checkpoints(trial_id)

    def generations(self, trial_id: str) -> list[int]:
        """Generations with a checkpoint file, newest first."""
        names = (_NAME.match(info.base_name) for info in self.sweep.listing(self.folder(trial_id)))
        return sorted((int(m.group(1)) for m in names if m), reverse=True)

    def path(self, trial_id: str, generation: int) -> str:
        return self.sweep.checkpoint_file(trial_id, generation)

    def save(self, trial_id: str, saved: dict[str, Any]) -> str:
        """Write generation saved["generation"]'s checkpoint and read it back; only once it is verified,
        delete the older ones except the newest of them, the fallback should this one be damaged later."""
        generation = int(saved["generation"])
        final = self.path(trial_id, generation)
        content = encode(saved)
        atomic_write(self.fs, final, content)
        self._verify(final, content)
        older = [g for g in self.generations(trial_id) if g < generation]
        for old in older[1:]:
            delete_within(self.fs, self.root, self.path(trial_id, old))
        return final

    def _verify(self, path: str, content: bytes) -> None:
        """Raise OSError unless `path` holds exactly `content` (a full disk or a broken mount can cut it)."""
        with self.fs.open_input_stream(path) as f:
            back = f.read()
        if hashlib.sha256(back).digest() != hashlib.sha256(content).digest():
            raise OSError(f"checkpoint {path} reads back as {len(back):,} bytes that differ from the "
                          f"{len(content):,} written; the previous checkpoint is kept")

    def _read(self, trial_id: str, generation: int) -> dict[str, Any]:
        with self.fs.open_input_stream(self.path(trial_id, generation)) as f:
            saved = decode(f.read())
        if saved["generation"] != generation:
            raise ValueError(f"it holds generation {saved['generation']}")
        return saved

    def load_latest(self, trial_id: str, warn: Callable[[str], None] = _warn) -> dict[str, Any] | None:
        """The newest readable checkpoint of a trial, or None if it has none. A damaged newer file is
        skipped with a warning naming it and the checkpoint used instead."""
        damaged = []
        for generation in self.generations(trial_id):
            try:
                saved = self._read(trial_id, generation)
            except Exception as e:  # noqa: BLE001 - any failure to decode means the file is damaged
                damaged.append(f"{self.path(trial_id, generation)} ({type(e).__name__}: {clip(str(e), 120)})")
                continue
            if damaged:
                warn(f"trial {trial_id}: checkpoint {'; '.join(damaged)} cannot be read; "
                     f"resuming from generation {generation}'s checkpoint {self.path(trial_id, generation)}")
            return saved
        if damaged:
            warn(f"trial {trial_id}: checkpoint {'; '.join(damaged)} cannot be read and "
                 f"no older one exists; the trial starts again from generation 1")
        return None
