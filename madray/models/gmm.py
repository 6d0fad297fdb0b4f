"""25-mode 2D Gaussian mixture (MAD §4): modes lost across generations.

Truth: equal-weight modes on a 5×5 grid (spacing `spacing`, isotropic std `std`).
Fit: a `components`-component full-covariance mixture by EM (madray/models/em.py).
Sampling bias λ scales every component's covariance.
Metrics on `n_eval` samples per replicate (drawn with the trial's λ): modes covered (modes with at least
`min_count` samples within 3 std), the fraction of high-quality samples (within
3 std of some mode), the Wasserstein-2 distance to as many real samples, and precision, recall,
density and coverage (k = `k`) in sample space against `n_ref` held real samples (MAD Fig. 12:
"recall is the best diversity metric"), and Fig. 12's two other diversity measures: `total_variance`,
"variance ... as the trace of covariance" (fn. 7) of the samples, and `modal_variance`, "the average
variance of each mode": the trace of the covariance of the samples nearest each true mode that has at
least `min_count` of them, averaged over those modes. The held samples and their FAISS ReferenceSet are the
same for every trial and generation with the same truth (`shared_inputs`, built once per sweep).

Oracles for curation (madray/curate): the score of a sample is minus its distance to the nearest true
mode; the correction moves it towards that mode, x + γ (m(x) − x) (γ = 1 puts it on the mode's centre).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from madray.config import require
from madray.metrics.knn import ReferenceSet
from madray.metrics.scores import PRDC, reference_scores
from madray.metrics.wasserstein import wasserstein_samples
from madray.models import em
from madray.models.base import Family


@dataclass(frozen=True)
class Params:
    grid: int = 5  # modes per side (grid² modes)
    spacing: float = 2.0
    std: float = 0.05
    components: int = 25
    em_iters: int = 100
    reg_covar: float = 1e-6
    warm_start: bool = False  # start EM from generation t-1's mixture instead of k-means++
    n_eval: int = 500
    min_count: int = 5
    n_ref: int = 1000  # held real samples for precision/recall/density/coverage
    k: int = 5  # nearest neighbours for precision/recall/density/coverage (MAD: 5)

    def __post_init__(self):
        for key in ("n_eval", "n_ref"):
            value = getattr(self, key)
            require(value > self.k, f"params.gmm.{key}", value,
                    f"must exceed k = {self.k} (the k-th neighbour excludes the point itself)")
        for key in ("grid", "components", "em_iters", "n_eval", "min_count", "n_ref", "k"):
            require(getattr(self, key) >= 1, f"params.gmm.{key}", getattr(self, key), "must be >= 1")
        for key in ("spacing", "std", "reg_covar"):
            require(getattr(self, key) > 0, f"params.gmm.{key}", getattr(self, key), "must be > 0")


REFERENCE_SEED = 20240125  # the held real samples are the same for every trial with the same truth
REFERENCE_KNOBS = ("grid", "spacing", "std", "n_ref", "k")  # what the held reference set depends on


def grid_modes(grid: int, spacing: float) -> np.ndarray:
    """Mode centres (grid², 2), centred on the origin."""
    axis = (np.arange(grid) - (grid - 1) / 2) * spacing
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)


def sample_mixture_truth(modes: np.ndarray, std: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Points of shape (*shape, 2) from the equal-weight isotropic mixture on `modes`."""
    which = rng.integers(len(modes), size=shape)
    return modes[which] + std * rng.standard_normal((*shape, 2))


class GaussianMixture(Family):
    name = "gmm"
    Params = Params
    metric_names = ("modes_covered", "high_quality_frac", "wasserstein", *PRDC, "total_variance", "modal_variance")

    def __init__(self, cfg, shared=None):
        super().__init__(cfg, shared)
        self.modes = grid_modes(self.params.grid, self.params.spacing)

    @classmethod
    def shared_key(cls, cfg):
        return ("gmm", *(getattr(cfg.params, knob) for knob in REFERENCE_KNOBS))

    @classmethod
    def shared_inputs(cls, cfg):
        """The held real samples' ReferenceSet (FAISS k-NN radii), built once per trial group."""
        p = cfg.params
        held = sample_mixture_truth(grid_modes(p.grid, p.spacing), p.std, (p.n_ref,), np.random.default_rng(REFERENCE_SEED))
        return ReferenceSet.from_features(held, p.k)

    @classmethod
    def work(cls, cfg, n):
        return cfg.replicates * n * cfg.params.components * cfg.params.em_iters  # EM: every point, component, iteration

    @classmethod
    def min_train_size(cls, params):
        return params.components  # k-means++ needs a distinct seed per component

    @classmethod
    def floats_per_sample(cls, params):
        return 2 + 2 * params.components  # the point, its EM log-densities and responsibilities

    def sample_real(self, n, rng):
        return {"x": sample_mixture_truth(self.modes, self.params.std, (self.replicates, n), rng)}

    def fit(self, data, previous, rng):
        p = self.params
        x = data["x"]
        init = previous if (p.warm_start and previous is not None) else em.initial_mixture(x, p.components, rng, p.reg_covar)
        return em.fit_mixture(x, init, max_iter=p.em_iters, reg_covar=p.reg_covar)

    def sample(self, state, n, lam, rng):
        return {"x": em.sample_mixture(state, n, lam, rng)}

    def nearest_mode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per sample of x (R, n, 2): squared distances to every mode (R, n, modes) and the nearest mode's index."""
        d2 = np.sum((x[:, :, None, :] - self.modes) ** 2, axis=-1)
        return d2, np.argmin(d2, axis=-1)

    def oracle_score(self, batch):
        d2, _ = self.nearest_mode(batch["x"])
        return -np.sqrt(np.min(d2, axis=-1))

    def correct(self, batch, state, gamma):
        x = batch["x"]
        _, nearest = self.nearest_mode(x)
        return {"x": x + gamma * (self.modes[nearest] - x)}

    def mode_stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per replicate: modes with >= min_count high-quality samples, and the high-quality fraction."""
        d2, nearest = self.nearest_mode(x)
        good = np.min(d2, axis=-1) <= (3 * self.params.std) ** 2
        counts = np.stack([np.bincount(nearest[r][good[r]], minlength=len(self.modes)) for r in range(len(x))])
        return (counts >= self.params.min_count).sum(axis=1), good.mean(axis=1)

    def variances(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per replicate: tr Cov of all samples, and the mean over populated true modes of tr Cov of their samples."""
        _, nearest = self.nearest_mode(x)
        total = np.trace(np.stack([np.cov(r, rowvar=False) for r in x]), axis1=1, axis2=2)
        modal = [np.mean([np.trace(np.cov(r[nearest[i] == m], rowvar=False)) for m in np.unique(nearest[i])
                          if (nearest[i] == m).sum() >= max(self.params.min_count, 2)] or [np.nan])
                 for i, r in enumerate(x)]
        return total, np.asarray(modal)

    def evaluate(self, state, rng):
        fake = self.evaluation_sample(state, rng)["x"]
        metrics = {}
        if self.wanted & {"modes_covered", "high_quality_frac"}:
            metrics["modes_covered"], metrics["high_quality_frac"] = self.mode_stats(fake)
        if "wasserstein" in self.wanted:
            real = self.sample_real(self.params.n_eval, rng)["x"]  # drawn after the fake ones, same stream
            metrics["wasserstein"] = np.asarray([wasserstein_samples(f, r) for f, r in zip(fake, real)])
        metrics.update(reference_scores(self.shared, list(fake), None, self.wanted))
        if self.wanted & {"total_variance", "modal_variance"}:
            metrics["total_variance"], metrics["modal_variance"] = self.variances(fake)
        return metrics
