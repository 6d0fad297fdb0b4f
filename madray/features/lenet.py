"""A LeNet-5-style MNIST classifier whose penultimate layer (84 units) embeds images for FID
and precision/recall, as in MAD's MNIST experiments (a small classifier instead of Inception).

Trained by madray on the real training pool (madray/data/mnist.py) with random ±`shift`-pixel
translations, evaluated on the held-out set. Input: images (N, 28, 28) in [0, 1].
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from madray.config import require
from madray.torch_utils import Tensors, descend, run_steps, seeded

ARCHITECTURE = "lenet5-relu-maxpool-v1"  # part of the cache key: change it when the network changes
FEATURE_DIM = 84
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FEATURE_BATCH = 1000


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, FEATURE_DIM)
        self.fc3 = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, 84) of images (N, 28, 28) in [0, 1]."""
        h = (x.unsqueeze(1) - MNIST_MEAN) / MNIST_STD
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc2(F.relu(self.fc1(h.flatten(1)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.features(x))


@dataclass(frozen=True)
class LeNetConfig:
    """Everything the trained weights depend on; its hash names the cache file."""

    data: str  # madray.data.mnist.fingerprint(path)
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    shift: int = 2  # random translation augmentation, pixels
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size"):
            require(getattr(self, key) >= 1, f"lenet {key}", getattr(self, key), "must be >= 1")
        require(self.lr > 0, "lenet lr", self.lr, "must be > 0")
        require(0 <= self.shift <= 8, "lenet shift", self.shift, "must be in [0, 8] pixels")

    def key(self) -> str:
        text = json.dumps({"arch": ARCHITECTURE, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def as_images(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 pixels (0-255) or floats in [0, 1] -> float32 tensor in [0, 1]."""
    arr = np.asarray(x)
    t = torch.from_numpy(arr.astype(np.float32))  # a copy: the data pool is read-only
    return (t / 255.0 if arr.dtype == np.uint8 else t).to(device)


def random_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Translate each image by up to ±shift pixels (zero padding), independently per image."""
    if shift == 0:
        return x
    n, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift))
    dy, dx = torch.randint(0, 2 * shift + 1, (2, n), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None], rows, cols]


def train_lenet(cfg: LeNetConfig, images: np.ndarray, labels: np.ndarray, device: torch.device) -> Tensors:
    """Adam on cross-entropy for `cfg.epochs` epochs; returns the CPU state_dict."""
    data = {"x": as_images(images, device), "y": torch.from_numpy(labels.astype(np.int64)).to(device)}
    steps = cfg.epochs * max(1, len(labels) // cfg.batch_size)
    with seeded(cfg.seed, device):
        net = LeNet().to(device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)

        def step(batch: Tensors) -> float:
            loss = descend(opt, F.cross_entropy(net(random_shift(batch["x"], cfg.shift)), batch["y"]))
            sched.step()
            return loss

        run_steps(step, data, steps, cfg.batch_size)
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


def load_lenet(weights: Tensors, device: torch.device) -> LeNet:
    net = LeNet().to(device)
    net.load_state_dict(weights)
    return net.eval()


@torch.no_grad()
def _batched(fn, images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.cat([fn(as_images(images[i : i + FEATURE_BATCH], device)) for i in range(0, len(images), FEATURE_BATCH)]).cpu()


def extract_features(net: LeNet, images: np.ndarray) -> np.ndarray:
    """Penultimate-layer features (N, 84), float64, of images (N, 28, 28) (uint8 or [0, 1] floats)."""
    return _batched(net.features, images, next(net.parameters()).device).double().numpy()


def class_probabilities(net: LeNet, images: np.ndarray) -> np.ndarray:
    """Softmax class probabilities (N, 10), float64, of images (N, 28, 28)."""
    return _batched(lambda x: F.softmax(net(x), dim=1), images, next(net.parameters()).device).double().numpy()


def lenet_accuracy(net: LeNet, images: np.ndarray, labels: np.ndarray) -> float:
    """Classification accuracy on a labelled set."""
    predicted = _batched(net, images, next(net.parameters()).device).argmax(1).numpy()
    return float(np.mean(predicted == labels))
