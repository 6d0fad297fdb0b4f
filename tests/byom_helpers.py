"""Helpers of the bring-your-own-model tests: the example KDE package installed into a temporary folder."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KDE_PACKAGE = REPO / "examples" / "kde_family"


def install_example(target: Path, package: Path = KDE_PACKAGE) -> Path:
    """`pip install --no-deps --target` the example package: nothing is left in the environment CI
    reuses; importlib.metadata finds its entry point once `target` is on sys.path / PYTHONPATH."""
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *isolation, "--target", str(target),
                    str(package)], check=True, capture_output=True)
    return target


def environment(*paths: Path) -> dict[str, str]:
    """This process's environment with `paths` (and the checkout) first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env
