"""Train a small generative model of MNIST digits: probabilistic PCA (a Gaussian in the top
--components principal directions of the pixels), as an outside program that madray runs once per
generation and replicate.

    python train.py --data <folder of PNG files> --out <model folder> [--init <previous model folder>]

Reads the training images, writes model.npz (mean, components, variances) into --out. --init
(empty in generation 1) is the previous generation's model: PCA needs no warm start, so it is
only recorded, as a deep model would load its weights from there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image


def read_images(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.png"))
    return np.stack([np.asarray(Image.open(f).convert("L"), dtype=np.float64) / 255.0 for f in files])


def fit_ppca(x: np.ndarray, components: int) -> dict[str, np.ndarray]:
    """Mean, the top principal directions and their variances (1/(n-1)) of images (n, h, w)."""
    flat = x.reshape(len(x), -1)
    mean = flat.mean(0)
    _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
    k = min(components, len(s))
    return {"mean": mean, "components": vt[:k], "variances": s[:k] ** 2 / (len(x) - 1),
            "shape": np.array(x.shape[1:])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--init", default="")
    p.add_argument("--components", type=int, default=32)
    a = p.parse_args()
    x = read_images(a.data)
    np.savez(a.out / "model.npz", **fit_ppca(x, a.components))
    (a.out / "info.json").write_text(json.dumps({"images": len(x), "init": a.init}))
    print(f"fitted {a.components} components to {len(x)} images")


if __name__ == "__main__":
    main()
