"""Draw --n digits from the probabilistic-PCA model in --model with sampling bias λ (--lam scales
the variance of every component: λ < 1 favours typical digits over diverse ones), seeded by --seed,
as PNG files in the folder --out.

    python sample.py --model <model folder> --n 1000 --lam 0.8 --seed 7 --out <folder>
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def sample(model: dict[str, np.ndarray], n: int, lam: float, rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal((n, len(model["variances"]))) * np.sqrt(lam * model["variances"])
    x = model["mean"] + z @ model["components"]
    return np.clip(x, 0.0, 1.0).reshape(n, *model["shape"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--n", required=True, type=int)
    p.add_argument("--lam", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path)
    a = p.parse_args()
    with np.load(a.model / "model.npz") as f:
        model = dict(f)
    images = sample(model, a.n, a.lam, np.random.default_rng(a.seed))
    a.out.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(np.round(255 * img).astype(np.uint8)).save(a.out / f"{i:06d}.png")


if __name__ == "__main__":
    main()
