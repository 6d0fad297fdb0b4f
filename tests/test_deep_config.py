"""Bad deep-family settings fail at parse time, before any data is read or model trained, naming the key."""

import pytest

from madray.config import ConfigError
from madray.spec import parse_sweep


def sweep(family, params=None, **knobs):
    return parse_sweep({"name": "bad", "family": family, "loop": "fully_synthetic", "n_ini": 100, "n_s": 100,
                        "params": {family: params or {}}, **knobs})


@pytest.mark.parametrize("family, params, knobs, message", [
    ("ddpm", {"sampler": "euler"}, {}, r"params.ddpm.sampler = 'euler' is not allowed: with formulation 'edm' one of heun"),
    ("ddpm", {"formulation": "ho", "sampler": "heun"}, {}, r"params.ddpm.sampler = 'heun' .* with formulation 'ho' one of ddim, ancestral"),
    ("ddpm", {"formulation": "karras"}, {}, r"params.ddpm.formulation = 'karras' .* one of edm, ho"),
    ("ddpm", {"precision": "fp16"}, {}, r"params.ddpm.precision = 'fp16' .* one of auto, bf16, fp32"),
    ("ddpm", {"formulation": "ho", "sampler": "ddim", "sample_steps": 600}, {}, r"params.ddpm.sample_steps = 600 .* at most T = 500"),
    ("ddpm", {"ema": 1.0}, {}, r"params.ddpm.ema"),
    ("vae", {"steps": 0}, {}, r"params.vae.steps = 0 is not allowed: must be > 0"),
    ("wgan_gp", {"n_eval": 5}, {}, r"params.wgan_gp.n_eval = 5 .* must exceed k = 5"),
    ("flow", {"layers": 0}, {}, r"params.flow.layers = 0"),
    ("vae", {"nonsense": 1}, {}, r"unknown key 'nonsense'; allowed keys: .*warm_start"),
    ("vae", {}, {"n_ini": 4001}, r"n_ini = 4001 .* pool of 4000"),
    ("ddpm", {"n_ref": 1001}, {}, r"params.ddpm.n_ref = 1001 .* held-out set has 1000 images"),
    ("wgan_gp", {"path": "/no/such/mnist"}, {}, r"params.wgan_gp.path = '/no/such/mnist'.*train-labels-idx1-ubyte"),
])
def test_bad_settings_are_config_errors(family, params, knobs, message):
    with pytest.raises(ConfigError, match=message):
        sweep(family, params, **knobs)


def test_defaults_are_valid_and_typed():
    for family in ("flow", "ddpm", "wgan_gp", "vae"):
        cfg = sweep(family).trials[0]
        assert cfg.params.steps >= 1 and cfg.params.warm_start is False
    assert sweep("ddpm").trials[0].params.T == 500  # MAD's setting
