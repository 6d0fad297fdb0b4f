"""Feature extractors for image metrics: a LeNet trained on real MNIST by madray itself."""

from madray.features.cache import cache_dir, cached_lenet
from madray.features.lenet import (
    LeNet,
    LeNetConfig,
    extract_features,
    lenet_accuracy,
    train_lenet,
)

__all__ = ["LeNet", "LeNetConfig", "cache_dir", "cached_lenet", "extract_features", "lenet_accuracy", "train_lenet"]
