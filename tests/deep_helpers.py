"""Shared set-up of the deep-model tests: tiny configs and the MNIST inputs computed once per process."""

import functools

from helpers import trial_config

from madray.models.image_family import ImageFamily


def deep_config(family, cache_dir, replicates=1, params=None, **knobs):
    """A fully synthetic TrialConfig of `family` with the given params (and the LeNet cache for image families)."""
    params = dict(params or {})
    if family in IMAGE_FAMILIES:
        params["cache_dir"] = cache_dir
    return trial_config(family=family, loop="fully_synthetic", replicates=replicates, params={family: params}, **knobs)


@functools.cache
def mnist_shared(cache_dir, n_ref=1000, k=5):
    """The image families' shared inputs (real split, LeNet weights, reference features), once per process."""
    cfg = deep_config("vae", cache_dir, params={"n_ref": n_ref, "k": k, "n_eval": max(k + 1, 100)})
    return ImageFamily.shared_inputs(cfg)


IMAGE_FAMILIES = ("ddpm", "wgan_gp", "vae")

# Smallest sizes that still run every code path: for plumbing tests (checkpoints, Ray Tune loops).
TINY = {
    "flow": {"steps": 5, "layers": 2, "hidden": 8, "n_eval": 20, "n_ref": 50},
    "ddpm": {"steps": 2, "channels": 8, "sample_steps": 3, "n_eval": 20, "n_ref": 50},
    "wgan_gp": {"steps": 2, "channels": 4, "latent": 8, "n_eval": 20, "n_ref": 50},
    "vae": {"steps": 5, "hidden": 16, "latent": 4, "n_eval": 20, "n_ref": 50},
    "lm": {"steps": 5, "width": 16, "heads": 2, "layers": 1, "n_eval": 20, "n_ref": 50},
}
