"""Model-family registry: built-in families, families by import path, and installed packages' families.

A sweep names its family in one of three ways, resolved the same way on the driver and on every
Ray worker (workers receive the name string, never a patched dict):

- a built-in name (`FAMILIES`; adding one is a file in this folder plus one line here);
- an import path `"package.module:Class"` (the module importable where the sweep runs: on a
  cluster, ship it with `ray job submit --working-dir` or a `runtime_env`, docs/families.md);
- the short name of an installed package's entry point in the group `madray.families`.

Families are imported lazily ("module:Class") so that a Gaussian sweep does not pay for
importing torch. Every resolved class is checked against the contract (`check_contract`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata

from madray.config import ConfigError, TrialConfig, require
from madray.errors import brief
from madray.models.base import Family, check_contract

FAMILIES: dict[str, str] = {
    "gaussian": "madray.models.gaussian:Gaussian",
    "gmm": "madray.models.gmm:GaussianMixture",
    "linreg": "madray.models.linreg:LinearRegression",
    "flow": "madray.models.flow:Flow",
    "vae": "madray.models.vae:VAE",
    "ddpm": "madray.models.ddpm:DDPM",
    "wgan_gp": "madray.models.wgan_gp:WGANGP",
    "lm": "madray.models.lm:LM",
    "command": "madray.models.command:CommandFamily",
}
ENTRY_POINT_GROUP = "madray.families"


def entry_points() -> dict[str, str]:
    """Short name -> "module:Class" of every installed package's `madray.families` entry point."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def known_families() -> list[str]:
    return [*FAMILIES, *(n for n in entry_points() if n not in FAMILIES)]


def family_path(name: str) -> str:
    """The "module:Class" import path a family name stands for."""
    if name in FAMILIES:
        return FAMILIES[name]
    if ":" in name:
        return name
    installed = entry_points()
    if name in installed:
        return installed[name]
    raise ConfigError(f"family = {brief(name)} is not a known model family; known: {', '.join(known_families())}; "
                      f"or give an import path \"package.module:Class\" (docs/families.md)")


def family_class(name: str) -> type[Family]:
    """The class a family name stands for, imported and its contract checked (once per import path)."""
    return _class_at(family_path(name), name)


@functools.cache
def _class_at(path: str, name: str) -> type[Family]:
    module, _, attr = path.partition(":")
    where = f"family = {brief(name)}" + (f" (entry point {path!r})" if path != name and name not in FAMILIES else "")
    if not module or not attr:
        raise ConfigError(f"{where}: an import path is \"package.module:Class\"")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"{where}: cannot import module {module!r} ({e}); it must be importable on the "
                          f"driver and on every Ray worker (pip install it, or PYTHONPATH / --working-dir)") from None
    if not hasattr(mod, attr):
        raise ConfigError(f"{where}: module {module!r} has no attribute {attr!r}")
    return check_contract(getattr(mod, attr), where)


def family_module(name: str) -> str:
    """The module a family lives in (what a Ray worker imports before its first trial)."""
    return family_path(name).partition(":")[0]


def split_param_key(key: str) -> tuple[str, str]:
    """"<family>.<param>" -> (family, param); the family may be an import path with dots of its own."""
    family, _, param = key.rpartition(".")
    return (family, param) if family else (key, "")


def validate_family(cfg: TrialConfig) -> None:
    cls = family_class(cfg.family)
    for m in cfg.metrics:
        require(m in cls.metric_names, "metrics", list(cfg.metrics),
                f"family {cfg.family!r} reports {', '.join(cls.metric_names)}; {brief(m)} is not one of them")
    cls.validate(cfg)


def make_family(cfg: TrialConfig, shared=None, workdir: str | None = None) -> Family:
    """An instance of the trial's family; `workdir` is the trial's own folder (for families that keep files)."""
    family = family_class(cfg.family)(cfg, shared)
    family.workdir = workdir
    return family


__all__ = ["ENTRY_POINT_GROUP", "FAMILIES", "Family", "family_class", "family_module", "known_families",
           "make_family", "split_param_key", "validate_family"]
