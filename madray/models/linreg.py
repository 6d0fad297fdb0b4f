"""Linear regression (Gerstgrasser et al. 2024, §2): OLS refit on labels from the previous model.

Truth: y = x·w* + σ ε with x ~ N(0, I_d), w* ~ N(0, I_d / d) drawn once per trial.
A generation's synthetic data are covariates labelled by its fitted ŵ plus fresh noise of
scale √λ·σ (λ = 1 is the paper's setting; λ < 1 under-disperses labels like the other
families' quality-over-diversity bias).

Covariates (`params.linreg.design`):
- `fixed` (default): Gerstgrasser et al.'s theory (§2) keeps one design matrix X (n × d)
  for every generation and redraws only the labels, "y_t = X ŵ_{t-1} + E_t". Here X is
  n_ini rows drawn once per trial and replicate; a batch of m samples (real or synthetic)
  uses rows 0..m-1 of X, cycling when m > n_ini.
- `fresh`: new covariates x ~ N(0, I_d) for every batch.
With T = n_ini = n_s samples per generation the first fit's expected excess error is
σ² d / (T - d - 1); `replace` adds that much per generation, `accumulate` stays below π²/6
times it (exact closed forms for both designs: madray/analysis/theory.py).

Oracles for curation (madray/curate): the score of a pair (x, y) is the true conditional log density
log N(y; x·w*, σ²) (every model's covariates are the true N(0, I_d)'s: fresh draws, or the fixed design
drawn from it once); the correction moves each label along the optimal-transport map from the model's
N(x·ŵ, λσ²) to the truth's N(x·w*, σ²), y ↦ x·w* + (y − x·ŵ)/√λ, by strength γ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from madray.config import require
from madray.models.base import Family
from madray.seeding import Stream
from madray.seeding import rng as seeded_rng


@dataclass(frozen=True)
class Params:
    d: int = 10  # features
    sigma: float = 1.0  # label noise standard deviation
    n_test: int = 1000  # held-out real samples for heldout_mse
    design: str = "fixed"  # covariates: "fixed" (one X for every generation, the theory's) or "fresh"

    def __post_init__(self):
        require(self.d >= 1, "params.linreg.d", self.d, "the number of features must be >= 1")
        require(self.sigma > 0, "params.linreg.sigma", self.sigma, "the noise scale must be > 0")
        require(self.n_test >= 1, "params.linreg.n_test", self.n_test, "must be >= 1")
        require(self.design in DESIGNS, "params.linreg.design", self.design, f"one of {', '.join(DESIGNS)}")


DESIGNS = ("fixed", "fresh")


def ols(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Batched OLS ŵ = (XᵀX)⁻¹ Xᵀy (Gerstgrasser et al. §2) of x (R, n, d) and y (R, n).

    The normal equations cost one Gram product, a fortieth of a pseudo-inverse's SVD at
    n = 10⁴, d = 100 (benchmarks/bench_gaussian.py); they square X's condition number, which
    for n ≥ d Gaussian designs costs digits far below the estimator's own noise. A singular
    Gram matrix (a rank-deficient design) falls back to the pseudo-inverse's minimum-norm fit.
    """
    gram = np.swapaxes(x, 1, 2) @ x
    xty = np.einsum("rnd,rn->rd", x, y)
    try:
        return np.linalg.solve(gram, xty[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.einsum("rdn,rn->rd", np.linalg.pinv(x), y)


class LinearRegression(Family):
    name = "linreg"
    Params = Params
    metric_names = ("test_error", "heldout_mse")

    def __init__(self, cfg, shared=None):
        super().__init__(cfg, shared)
        d = self.params.d
        self.w_true = seeded_rng(cfg.seed, 0, Stream.TRUTH).standard_normal(d) / np.sqrt(d)
        held_rng = seeded_rng(cfg.seed, 0, Stream.HELD_OUT)  # held-out covariates are always fresh
        x_held = held_rng.standard_normal((1, self.params.n_test, d))
        held = self._labelled(self.w_true[None, :], self.params.n_test, 1.0, held_rng, x_held)
        self.x_test, self.y_test = held["x"][0], held["y"][0]
        if self.params.design == "fixed":
            self.design = seeded_rng(cfg.seed, 0, Stream.DESIGN).standard_normal((cfg.replicates, cfg.n_ini, d))

    @classmethod
    def work(cls, cfg, n):
        d = cfg.params.d
        return cfg.replicates * (n * d * d + d**3)  # OLS: the Gram matrix and its solve

    @classmethod
    def min_train_size(cls, params):
        return params.d  # OLS needs a full-rank design

    @classmethod
    def floats_per_sample(cls, params):
        return params.d + 1  # features and label

    def _covariates(self, n: int, rng) -> np.ndarray:
        """(R, n, d): rows of the fixed design (cycled) or fresh draws."""
        if self.params.design == "fixed":
            return self.design[:, np.arange(n) % self.design.shape[1]]
        return rng.standard_normal((self.replicates, n, self.params.d))

    def _labelled(self, w: np.ndarray, n: int, noise_scale: float, rng, x: np.ndarray | None = None) -> dict:
        """Covariates for each row of w (R, d), labelled y = x·w + noise_scale·σ·ε."""
        x = self._covariates(n, rng) if x is None else x
        y = np.einsum("rnd,rd->rn", x, w) + noise_scale * self.params.sigma * rng.standard_normal((w.shape[0], n))
        return {"x": x, "y": y}

    def sample_real(self, n, rng):
        return self._labelled(np.broadcast_to(self.w_true, (self.replicates, self.params.d)), n, 1.0, rng)

    def fit(self, data, previous, rng):
        return {"w": ols(data["x"], data["y"])}

    def sample(self, state, n, lam, rng):
        return self._labelled(state["w"], n, np.sqrt(lam), rng)

    def oracle_score(self, batch):
        sigma = self.params.sigma
        resid = batch["y"] - batch["x"] @ self.w_true
        return -0.5 * (resid / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))

    def correct(self, batch, state, gamma):
        x, y = batch["x"], batch["y"]
        mapped = x @ self.w_true + (y - np.einsum("rnd,rd->rn", x, state["w"])) / np.sqrt(self.cfg.lam)
        return {"x": x, "y": (1.0 - gamma) * y + gamma * mapped}

    def evaluate(self, state, rng):
        w = state["w"]
        return {
            # excess test error E_x[(x·ŵ - x·w*)²] = ‖ŵ - w*‖² for isotropic x
            "test_error": np.sum((w - self.w_true) ** 2, axis=1),
            "heldout_mse": np.mean((self.x_test @ w.T - self.y_test[:, None]) ** 2, axis=0),
        }
