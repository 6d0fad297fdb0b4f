"""The command family: the user's own train and sample programs, run once per generation and replicate.

    family: command
    params:
      command:
        train: [python, train.py, --data, "{train_data}", --out, "{model_dir}", --init, "{previous_model_dir}"]
        sample: [python, sample.py, --model, "{model_dir}", --n, "{n}", --lam, "{lam}", --seed, "{seed}", --out, "{samples}"]
        format: array      # array (.npy), images (PNG folder + labels.csv), text (.jsonl): madray/data/formats.py
        real: gaussian:2   # mnist, rosenbrock, gaussian:<d>, stories, or a path in `format`: madray/data/sources.py
        features: identity # lenet, identity or "package.module:function" (one replicate's samples -> (n, f))
        timeout: 3600      # seconds per step

madray draws the real data, composes each generation's training set by the loop's rule, writes
it in `format`, runs the programs (madray/models/steps.py: an argv list, never a shell, in the
trial's folder, resumable by manifest), reads their samples back, runs the curation stage and
computes FID and precision/recall/density/coverage in the chosen features against the source's
held-out real data. Each replicate is its own pipeline: its own files under
`<trial folder>/gen-<t>/rep-<r>/`. The state is the generation index only (one int per
replicate): the models live in their folders, which the paths are derived from.

A placeholder is substituted as one whole argument, never split or re-parsed; one that is part of
a longer argument ("--out={samples}") or unknown is refused when the sweep is parsed, so madray's
paths always lie inside the trial's folder. A relative argument naming an existing file where
madray is started (train.py) is made absolute when the sweep is parsed (the steps run in the
trial's folder); the resolved argv is what sweep.yaml records and what runs.
"""

from __future__ import annotations

import functools
import importlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madray.config import ConfigError, require
from madray.data import formats, sources
from madray.metrics.knn import ReferenceSet
from madray.metrics.scores import reference_scores
from madray.models.base import Family
from madray.models.steps import Step, StepFailed, finished, run_step

PLACEHOLDERS = {
    "train_data": "the loop's training set of this generation, in `format`",
    "model_dir": "the folder of this generation's model (train writes it, sample reads it)",
    "previous_model_dir": "the previous generation's model folder (an empty argument in generation 1)",
    "samples": "where the sample program writes its n samples, in `format`",
    "n": "how many samples (sample) or training samples (train)",
    "lam": "the sampling bias λ",
    "seed": "a seed for the program, drawn from the trial's seed, generation and replicate",
    "generation": "the generation, from 1",
    "replicate": "the replicate, from 0",
}
ALLOWED = {"train": set(PLACEHOLDERS) - {"samples"}, "sample": set(PLACEHOLDERS) - {"train_data", "previous_model_dir"}}
REQUIRED = {"train": ("train_data", "model_dir"), "sample": ("model_dir", "samples")}
BUILTIN_FEATURES = ("identity", "lenet")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
KEY = "params.command"


def check_argv(step: str, argv: tuple[str, ...]) -> None:
    """ConfigError unless every placeholder of `argv` is a whole argument that `step` knows."""
    key = f"{KEY}.{step}"
    require(len(argv) > 0, key, list(argv), "the program's argv as a list, e.g. [python, train.py, ...]")
    for arg in argv:
        names = _PLACEHOLDER.findall(arg)
        if not names:
            continue
        require(_PLACEHOLDER.fullmatch(arg) is not None, key, arg,
                "a placeholder must be a whole argument: write '--out', '{samples}' as two arguments")
        require(names[0] in ALLOWED[step], key, arg,
                f"unknown placeholder for {step}; known: {', '.join(f'{{{n}}}' for n in sorted(ALLOWED[step]))}")
    for name in REQUIRED[step]:
        require(f"{{{name}}}" in argv, key, list(argv), f"the {step} program must be given {{{name}}}")


def absolute_programs(argv: tuple[str, ...]) -> tuple[str, ...]:
    """Relative arguments that name an existing file here (train.py) as absolute paths."""
    return tuple(str(Path(a).resolve()) if not a.startswith("-") and not _PLACEHOLDER.search(a)
                 and not Path(a).is_absolute() and Path(a).is_file() else a for a in argv)


def substitute(argv: tuple[str, ...], values: dict[str, str]) -> tuple[str, ...]:
    """Each whole-argument placeholder replaced by its value (one argument, never split)."""
    return tuple(values[m.group(1)] if (m := _PLACEHOLDER.fullmatch(a)) else a for a in argv)


def feature_function(spec: str, cache_dir: str | None = None) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """One replicate's samples (arrays, sample axis first) -> features (n, f), float64."""
    if spec == "identity":
        return lambda batch: np.asarray(batch["x"], dtype=np.float64).reshape(len(batch["x"]), -1)
    if spec == "lenet":
        return _lenet_features(cache_dir)
    module, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"{KEY}.features = {spec!r}: cannot import it ({e}); "
                          f"one of {', '.join(BUILTIN_FEATURES)} or \"package.module:function\"") from None
    require(callable(fn), f"{KEY}.features", spec, "a function: one replicate's samples -> (n, f) features")
    return lambda batch: np.asarray(fn(batch), dtype=np.float64)


def _lenet_features(cache_dir: str | None) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """madray's LeNet (trained once per machine on the real MNIST pool, cached): 84 features per image."""
    import torch  # only here: an identity-feature sweep does not import torch

    from madray.data.mnist import fingerprint, load_mnist
    from madray.features import LeNetConfig, cached_lenet, extract_features
    from madray.features.lenet import load_lenet

    split, device = load_mnist(), torch.device("cpu")
    weights = cached_lenet(LeNetConfig(data=fingerprint(None)), (split.pool_x, split.pool_y),
                           (split.held_x, split.held_y), device, cache_dir)
    net = load_lenet(weights, device)
    return lambda batch: extract_features(net, batch["x"])


def _existing_path(value: str) -> str:
    return str(Path(value).resolve()) if sources.parse(value)[0] == "path" and Path(value).exists() else value


@dataclass(frozen=True)
class Params:
    train: tuple[str, ...] = ()  # the train program's argv
    sample: tuple[str, ...] = ()  # the sample program's argv
    format: str = "array"  # array | images | text
    real: str = "gaussian:2"  # mnist | rosenbrock | gaussian:<d> | stories | a path in `format`
    features: str = "identity"  # identity | lenet | "package.module:function"
    labels: bool = False  # images with digit labels (labels.csv both ways; real: mnist)
    timeout: float = 3600.0  # seconds per step
    n_eval: int = 500  # generated samples per replicate that the metrics score
    n_ref: int = 1000  # held-out real samples of the reference set
    k: int = 5  # neighbours of precision/recall/density/coverage
    cache_dir: str | None = None  # the LeNet's cache (features: lenet); None = $MADRAY_CACHE or ~/.cache/madray

    def __post_init__(self):
        object.__setattr__(self, "train", absolute_programs(self.train))
        object.__setattr__(self, "sample", absolute_programs(self.sample))
        object.__setattr__(self, "real", _existing_path(self.real))
        check_argv("train", self.train)
        check_argv("sample", self.sample)
        require(self.format in formats.FORMATS, f"{KEY}.format", self.format, f"one of {', '.join(formats.FORMATS)}")
        try:
            sources.check(self.real, self.format, self.labels)
        except ValueError as e:
            raise ConfigError(f"{KEY}.real = {self.real!r} is not allowed: {e}") from None
        require(self.features != "lenet" or self.format == "images", f"{KEY}.features", self.features,
                "lenet embeds 28×28 images: format images")
        require(self.features != "identity" or self.format != "text", f"{KEY}.features", self.features,
                "text has no identity features: give \"package.module:function\"")
        if self.features not in BUILTIN_FEATURES:
            feature_function(self.features)
        require(self.timeout > 0, f"{KEY}.timeout", self.timeout, "seconds per step, > 0")
        for key in ("n_eval", "n_ref"):
            require(getattr(self, key) >= 2, f"{KEY}.{key}", getattr(self, key), "must be >= 2")
        require(self.k >= 1, f"{KEY}.k", self.k, "must be >= 1")


@dataclass(frozen=True)
class CommandShared:
    source: Any  # sources.Pool or sources.Sampler
    reference: ReferenceSet


class CommandFamily(Family):
    name = "command"
    Params = Params
    metric_names = ("fid", "precision", "recall", "density", "coverage")

    @classmethod
    def floats_per_sample(cls, params):
        return sources.dimension(params.real)

    @classmethod
    def validate(cls, cfg):
        p = cfg.params
        if p.real == "mnist":
            for key in ("n_ini", "n_r"):
                require(getattr(cfg, key) <= 4000, key, getattr(cfg, key),
                        "real images are drawn without replacement from a pool of 4000")
            require(p.n_ref <= 1000, f"{KEY}.n_ref", p.n_ref, "the held-out set has 1000 images")

    @classmethod
    def shared_key(cls, cfg):
        p = cfg.params
        return ("command", p.real, p.format, p.labels, p.features, p.n_ref, p.k, p.cache_dir)

    @classmethod
    def shared_inputs(cls, cfg):
        p = cfg.params
        source = sources.load(p.real, p.format, p.labels)
        features = feature_function(p.features, p.cache_dir)(source.reference(p.n_ref))
        return CommandShared(source, ReferenceSet.from_features(features, p.k))

    @functools.cached_property
    def features(self) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        return feature_function(self.params.features, self.params.cache_dir)

    # ------------------------------------------------------------------ files
    @functools.cached_property
    def root(self) -> Path:
        """The trial's folder (a temporary one outside a sweep)."""
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="madray-command-")
        if "://" in self.workdir:
            raise StepFailed(f"the command family runs programs on local files; {self.workdir!r} is not a local "
                             f"folder: give a local --out (on a cluster, a filesystem every node shares)")
        Path(self.workdir).mkdir(parents=True, exist_ok=True)
        return Path(self.workdir).resolve()

    def folder(self, t: int, r: int) -> Path:
        return self.root / f"gen-{t:06d}" / f"rep-{r:03d}"

    def _values(self, t: int, r: int, n: int, seed: int) -> dict[str, str]:
        return {"model_dir": str(self.folder(t, r) / "model"), "n": str(n), "lam": repr(float(self.cfg.lam)),
                "seed": str(seed), "generation": str(t), "replicate": str(r),
                "previous_model_dir": str(self.folder(t - 1, r) / "model") if t > 1 else ""}

    # ------------------------------------------------------------------ Family API
    def sample_real(self, n, rng):
        return self.shared.source.draw(self.replicates, n, rng)

    def fit(self, data, previous, rng):
        t = 1 if previous is None else int(previous["generation"][0]) + 1
        p = self.params
        for r, seed in enumerate(rng.integers(2**31, size=self.replicates)):
            one = {k: v[r] for k, v in data.items()}
            folder = self.folder(t, r)
            train_data = folder / f"train_data{formats.SUFFIX[p.format]}"
            values = {**self._values(t, r, len(next(iter(one.values()))), int(seed)), "train_data": str(train_data)}
            model = Path(values["model_dir"])
            step = Step("train", substitute(p.train, values), folder, self.root, (model,),
                        formats.array_checksum(one), empty_dirs=(model,))
            if not finished(step):
                formats.write(one, train_data, p.format)
                run_step(step, p.timeout)
        return {"generation": np.full(self.replicates, t, dtype=np.int64)}

    def sample(self, state, n, lam, rng):
        t, p = int(state["generation"][0]), self.params
        batches = []
        for r, seed in enumerate(rng.integers(2**31, size=self.replicates)):
            name, folder = f"sample-n{n}-seed{seed}", self.folder(t, r)
            samples = folder / f"{name}{formats.SUFFIX[p.format]}"
            values = {**self._values(t, r, n, int(seed)), "lam": repr(float(lam)), "samples": str(samples)}
            step = Step(name, substitute(p.sample, values), folder, self.root, (samples,))
            batches.append(run_step(step, p.timeout, lambda: formats.read(samples, p.format, n, p.labels)))
        return {k: np.stack([b[k] for b in batches]) for k in batches[0]}

    def evaluate(self, state, rng):
        batch = self.evaluation_sample(state, rng)
        features = [self.features({k: v[r] for k, v in batch.items()}) for r in range(self.replicates)]
        return reference_scores(self.shared.reference, features, "fid", self.wanted)
