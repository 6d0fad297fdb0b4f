"""The trained LeNet, cached on disk so that it is trained once per machine and config.

Location: the `cache_dir` param if set, else $MADRAY_CACHE, else ~/.cache/madray. The file
`lenet-<hash of LeNetConfig>.pt` holds the plain state_dict (`torch.save`), read back with
`torch.load(weights_only=True)`; `lenet-<hash>.json` beside it records the config and the
held-out accuracy. Both are written to a temporary file in the same folder and renamed, so
trials that race to train the same LeNet each write a complete file and the last rename wins
(the contents are identical: training is seeded).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from madray.features.lenet import LeNetConfig, lenet_accuracy, load_lenet, train_lenet
from madray.torch_utils import Tensors

ENV_VAR = "MADRAY_CACHE"


def cache_dir(override: str | None = None) -> Path:
    """Where cached models live: `override`, else $MADRAY_CACHE, else ~/.cache/madray."""
    chosen = override or os.environ.get(ENV_VAR) or Path.home() / ".cache" / "madray"
    return Path(chosen).expanduser()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def lenet_path(cfg: LeNetConfig, folder: str | None = None) -> Path:
    return cache_dir(folder) / f"lenet-{cfg.key()}.pt"


def cached_lenet(
    cfg: LeNetConfig, train: tuple[np.ndarray, np.ndarray], held_out: tuple[np.ndarray, np.ndarray],
    device: torch.device, folder: str | None = None,
) -> Tensors:
    """The LeNet's weights: loaded from the cache, or trained on `train` (images, labels), scored on
    `held_out` and cached."""
    path = lenet_path(cfg, folder)
    if path.is_file():
        return torch.load(path, weights_only=True, map_location="cpu")
    weights = train_lenet(cfg, *train, device)
    accuracy = lenet_accuracy(load_lenet(weights, device), *held_out)
    _atomic_write(path, lambda f: torch.save(weights, f))
    record = {"config": cfg.__dict__, "key": cfg.key(), "held_out_accuracy": accuracy, "held_out_size": len(held_out[1])}
    _atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(record, indent=2).encode()))
    return weights
