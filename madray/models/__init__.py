"""Model-family registry: adding a family is one file in this folder plus one line here.

Families are imported lazily ("module:Class") so that a Gaussian sweep does not
pay for importing torch.
"""

from __future__ import annotations

import importlib

from madray.config import ConfigError, TrialConfig, require
from madray.errors import brief
from madray.models.base import Family

FAMILIES: dict[str, str] = {
    "gaussian": "madray.models.gaussian:Gaussian",
    "gmm": "madray.models.gmm:GaussianMixture",
    "linreg": "madray.models.linreg:LinearRegression",
    "flow": "madray.models.flow:Flow",
    "vae": "madray.models.vae:VAE",
    "ddpm": "madray.models.ddpm:DDPM",
    "wgan_gp": "madray.models.wgan_gp:WGANGP",
    "lm": "madray.models.lm:LM",
}


def family_class(name: str) -> type[Family]:
    if name not in FAMILIES:
        raise ConfigError(f"family = {brief(name)} is not a known model family; known: {', '.join(FAMILIES)}")
    module, _, attr = FAMILIES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def validate_family(cfg: TrialConfig) -> None:
    cls = family_class(cfg.family)
    for m in cfg.metrics:
        require(m in cls.metric_names, "metrics", list(cfg.metrics),
                f"family {cfg.family!r} reports {', '.join(cls.metric_names)}; {brief(m)} is not one of them")
    cls.validate(cfg)


def make_family(cfg: TrialConfig, shared=None) -> Family:
    return family_class(cfg.family)(cfg, shared)


__all__ = ["FAMILIES", "Family", "family_class", "make_family", "validate_family"]
