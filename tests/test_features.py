"""The LeNet feature extractor: it classifies held-out digits, its features give a sensible FID,
and its cache is keyed, atomic and loadable with weights_only=True."""

import json

import numpy as np
import pytest
import scipy.ndimage
import torch
from deep_helpers import mnist_shared

from madray.data.mnist import fingerprint
from madray.features import cache, lenet
from madray.metrics.frechet import frechet_distance_features
from madray.models.image_family import ImageFamily

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"

# Measured: 97.9% held-out accuracy (20 epochs, ±2 px shifts, 4,000 training images). The held-out
# set has 1,000 images, so the standard error of an accuracy near 0.98 is 0.45 points: 0.95 is
# more than 6 standard errors below what we get, and far above what broken features give (0.1).
MIN_ACCURACY = 0.95


@pytest.fixture(scope="module")
def shared(madray_cache):
    return mnist_shared(madray_cache)


@pytest.fixture(scope="module")
def net(shared):
    return lenet.load_lenet(shared.lenet, torch.device("cpu"))


def test_lenet_accuracy_and_features_separate_classes(shared, net, madray_cache):
    split = shared.split
    accuracy = lenet.lenet_accuracy(net, split.held_x, split.held_y)
    assert accuracy > MIN_ACCURACY
    # the cache's record holds the same held-out accuracy
    record = json.loads(cache.lenet_path(ImageFamily.lenet_config(ImageFamily.Params()), madray_cache).with_suffix(".json").read_text())
    assert record["held_out_accuracy"] == pytest.approx(accuracy) and record["held_out_size"] == 1000
    # the 84-d penultimate features alone separate digits: nearest class centroid (from the pool)
    feats_pool, feats_held = lenet.extract_features(net, split.pool_x), lenet.extract_features(net, split.held_x)
    assert feats_held.shape == (1000, lenet.FEATURE_DIM)
    centroids = np.stack([feats_pool[split.pool_y == c].mean(axis=0) for c in range(10)])
    nearest = np.argmin(((feats_held[:, None, :] - centroids) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == split.held_y) > 0.9


def test_fid_real_far_below_blurred_and_noise(shared, net):
    split, reference = shared.split, shared.reference
    rng = np.random.default_rng(0)
    real = split.pool_x[rng.choice(len(split.pool_x), 1000, replace=False)].astype(np.float32) / 255
    blurred = scipy.ndimage.gaussian_filter(real, sigma=(0, 1.5, 1.5))
    noise = rng.random(real.shape).astype(np.float32)
    fid = {name: reference.frechet(lenet.extract_features(net, x)) for name, x in
           {"real": real, "blurred": blurred, "noise": noise}.items()}
    # the reference set's cached statistics give the plain FID formula of both feature sets
    held = lenet.extract_features(net, split.held_x)
    assert fid["real"] == pytest.approx(frechet_distance_features(lenet.extract_features(net, real), held), rel=1e-4)  # float32 features; thread counts change summation order
    assert fid["real"] < 0.05 * fid["blurred"] and fid["blurred"] < fid["noise"], fid  # measured: 3.3, 375, 738


def test_cache_is_keyed_atomic_and_weights_only(shared, madray_cache, monkeypatch, tmp_path):
    cfg = ImageFamily.lenet_config(ImageFamily.Params())
    path = cache.lenet_path(cfg, madray_cache)
    loaded = torch.load(path, weights_only=True)
    assert set(loaded) == set(lenet.LeNet().state_dict())
    for k, v in loaded.items():
        torch.testing.assert_close(v, shared.lenet[k], rtol=0, atol=0)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary files left
    # a cached config is never retrained; another config gets another file
    monkeypatch.setattr(cache, "train_lenet", lambda *a, **k: pytest.fail("retrained a cached LeNet"))
    split = shared.split
    cache.cached_lenet(cfg, (split.pool_x, split.pool_y), (split.held_x, split.held_y), torch.device("cpu"), madray_cache)
    other = lenet.LeNetConfig(data=fingerprint(None), epochs=cfg.epochs + 1)
    assert other.key() != cfg.key() and lenet.LeNetConfig(data="other", epochs=cfg.epochs).key() != cfg.key()
    # where the cache lives: the param, else $MADRAY_CACHE, else ~/.cache/madray
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    assert cache.cache_dir() == tmp_path and cache.cache_dir(madray_cache) == type(tmp_path)(madray_cache)
    monkeypatch.delenv(cache.ENV_VAR)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "madray"
