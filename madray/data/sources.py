"""Real data for the command family, named by a string: `mnist`, `rosenbrock`, `gaussian:<d>`, `stories`, or a path.

Each source draws real training samples per replicate and gives a fixed held-out set, the
reference of the metrics (FID, precision/recall/density/coverage), that no training set contains
where the source is finite:

- `mnist`: the built-in 5,000 digits (madray/data/mnist.py): 4,000 pool + 1,000 held out, images
  (n, 28, 28) in [0, 1], labels "y";
- `rosenbrock`: MAD's Rosenbrock density (madray/data/rosenbrock.py), points (n, 2);
- `gaussian:<d>`: N(0, I_d), points (n, d);
- `stories`: madray's story language (madray/data/stories.py), one story per sample (key "text");
- a path in the sweep's format (an .npy, a folder of PNG files, a .jsonl): every 5th sample is
  held out, the rest is the pool.
Infinite sources draw the held-out set from their own seed (REFERENCE_SEED).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from madray.data import formats
from madray.data.mnist import load_mnist
from madray.data.rosenbrock import sample_rosenbrock
from madray.data.stories import story_language
from madray.data.text import detokenize

REFERENCE_SEED = 0
HOLD_OUT_EVERY = 5
BUILTIN = ("mnist", "rosenbrock", "gaussian:<d>", "stories")
NATIVE_FORMAT = {"mnist": "images", "rosenbrock": "array", "gaussian": "array", "stories": "text"}


@dataclass(frozen=True)
class Pool:
    """A finite source: draws without replacement from `pool`, scores against `held`."""

    pool: dict[str, np.ndarray]
    held: dict[str, np.ndarray]

    def draw(self, replicates: int, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        size = len(next(iter(self.pool.values())))
        idx = np.stack([rng.choice(size, size=n, replace=False) for _ in range(replicates)])
        return {k: v[idx] for k, v in self.pool.items()}

    def reference(self, n: int) -> dict[str, np.ndarray]:
        size = len(next(iter(self.held.values())))
        chosen = np.sort(np.random.default_rng(REFERENCE_SEED).permutation(size)[:n])
        return {k: v[chosen] for k, v in self.held.items()}


@dataclass(frozen=True)
class Sampler:
    """An infinite source: a function (shape, rng) -> samples."""

    kind: str
    d: int

    def draw(self, replicates: int, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        if self.kind == "gaussian":
            return {"x": rng.standard_normal((replicates, n, self.d))}
        if self.kind == "stories":
            return {"text": np.array([_stories(n, rng) for _ in range(replicates)], dtype=str)}
        return {"x": sample_rosenbrock((replicates, n), rng)}

    def reference(self, n: int) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.draw(1, n, np.random.default_rng(REFERENCE_SEED)).items()}


def parse(real: str) -> tuple[str, int]:
    """"gaussian:10" -> ("gaussian", 10); "mnist" -> ("mnist", 0); a path -> ("path", 0). ValueError if malformed."""
    kind, _, arg = real.partition(":")
    if kind == "gaussian":
        if not arg.isdigit() or int(arg) < 1:
            raise ValueError(f"gaussian:<d> needs a dimension d >= 1, got {arg!r}")
        return kind, int(arg)
    if kind in ("mnist", "rosenbrock", "stories") and not arg:
        return kind, 2 if kind == "rosenbrock" else 0
    return "path", 0


def dimension(real: str) -> int:
    """Numbers per sample, for memory estimates (1 where only the file knows)."""
    kind, d = parse(real)
    return {"mnist": 28 * 28 + 1, "path": 1, "stories": 1}.get(kind, d)


def check(real: str, fmt: str, labelled: bool) -> None:
    """ValueError naming what is wrong with `real` for format `fmt`, before anything runs."""
    kind, _ = parse(real)
    if kind == "path":
        if not Path(real).exists():
            raise ValueError(f"neither a built-in source ({', '.join(BUILTIN)}) nor an existing path in format {fmt!r}")
        return
    if NATIVE_FORMAT[kind] != fmt:
        raise ValueError(f"the {kind} source is written as format {NATIVE_FORMAT[kind]!r}, not {fmt!r}")
    if labelled and kind != "mnist":
        raise ValueError(f"the {kind} source has no labels (labels: true needs mnist or labelled images)")


def _stories(n: int, rng: np.random.Generator) -> list[str]:
    language = story_language()
    return [detokenize(language.tokens[i] for i in story[:-1]) for story in language.sample(n, rng)]  # no end token


@functools.lru_cache(maxsize=4)
def load(real: str, fmt: str, labelled: bool = False) -> Pool | Sampler:
    """The source `real` names (checked with `check` first)."""
    kind, d = parse(real)
    if kind == "mnist":
        split = load_mnist()
        pool, held = {"x": split.pool_x / np.float32(255)}, {"x": split.held_x / np.float32(255)}
        if labelled:
            pool["y"], held["y"] = split.pool_y, split.held_y
        return Pool(pool, held)
    if kind == "path":
        data = _read_all(Path(real), fmt, labelled)
        held = np.arange(len(next(iter(data.values())))) % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1
        return Pool({k: v[~held] for k, v in data.items()}, {k: v[held] for k, v in data.items()})
    return Sampler(kind, d)


def _read_all(path: Path, fmt: str, labelled: bool) -> dict[str, np.ndarray]:
    if fmt == "images":
        n = len(list(path.glob("*.png")))
    elif fmt == "text":
        n = len(path.read_text(encoding="utf-8").splitlines())
    else:
        n = len(np.load(path, mmap_mode="r", allow_pickle=False))
    return formats.read(path, fmt, n, labelled)
