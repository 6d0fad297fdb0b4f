"""Closed forms the analysis and the plots compare simulations against.

Fresh-data loop, Gaussian family (MAD §5, App. H), squared mean error
-----------------------------------------------------------------------
Generation t fits Eq. 1 to n_r fresh real samples of N(0, I_d) and n_s samples of
N(μ̂_{t-1}, λΣ̂_{t-1}); n = n_r + n_s, a = n_r/n, b = n_s/n. Write m_t = E‖μ̂_t‖² and
τ_t = E tr Σ̂_t. Conditioning on generation t-1:

    μ̂_t = a·(mean of n_r real) + b·(μ̂_{t-1} + mean of n_s draws of N(0, λΣ̂_{t-1}))
    m_t = (a·d + b·λ·τ_{t-1})/n + b²·m_{t-1}                                    (i)

The unbiased covariance of the pooled sample sees both within-group spreads and the gap
between the group means (0 for the real group, μ̂_{t-1} for the synthetic one):

    τ_t = a·d + b·λ·τ_{t-1} + a·b·n/(n-1) · m_{t-1}                            (ii)

At the steady state (m_t = m_{t-1}, τ_t = τ_{t-1}), solving (i)-(ii) and using that n
i.i.d. real samples give E‖μ̂ - μ‖² = d/n, so n_e = d/m (MAD Eq. 3 with the squared mean
error as the distance):

    n_e/n_r = (1 + b)(1 - λb)/a  -  λb²/(a(n - 1))

For λ = 1 the leading term is (1 + b) = (n_r + 2 n_s)/(n_r + n_s) ≥ 1 and the correction
n_s²/(n_r (n_r + n_s)(n_r + n_s - 1)) vanishes as n grows. For λ < 1 the mean gets *better*
still (the synthetic draws scatter less around μ̂_{t-1}), so the mean error alone never shows
the λ phase transition: that is a covariance (diversity) effect, which is why n_e's default
distance is the Fréchet distance (see madray/analysis/ess.py).

Linear regression (Gerstgrasser et al. 2024, §2)
------------------------------------------------
x ~ N(0, I_d), T = n_ini = n_s samples per generation, OLS, label noise σ² (√λ·σ after
generation 1). With A = (XᵀX)⁻¹Xᵀ, E‖A E‖² = σ² E tr(XᵀX)⁻¹ = σ²d/(T − d − 1) (inverse Wishart).
Write δ_t = ŵ_t − w*.

replace, either design: δ_t = δ_{t-1} + √λ A_t E_t, so E‖δ_t‖² = σ²d/(T−d−1)·(1 + λ(t − 1)),
growing linearly (with n_ini ≠ n_s under the fresh design the first term uses n_ini).

accumulate, fixed design (the theory's, "we keep X fixed"): the pool is t copies of X with
labels y_1 (real), y_j = Xŵ_{j-1} + √λE_j, so ŵ_t = A·mean_j y_j and t δ_t − (t−1) δ_{t-1} =
δ_{t-1} + √λ A E_t, i.e. δ_t = δ_{t-1} + √λ A E_t / t:

    E‖δ_t‖² = σ²d/(T − d − 1) · (1 + λ Σ_{i=2..t} 1/i²)  <  π²/6 · generation 1's (λ = 1), exactly.

accumulate, fresh design: with S_t = Σ_{j≤t} X_jᵀX_j the same algebra gives
δ_t = δ_{t-1} + √λ S_t⁻¹ X_tᵀ E_t; the t blocks are exchangeable, so
E tr(S_t⁻² X_tᵀX_t) = E tr(S_t⁻¹)/t = d/(t(tT − d − 1)) (S_t ~ Wishart_d(tT, I)):

    E‖δ_t‖² = σ²d/(T − d − 1) + λσ² Σ_{i=2..t} d/(i(iT − d − 1)),

lower than the fixed design's (1.448 vs 1.527 times generation 1 at t = 8, d = 10, T = 50).
"""

from __future__ import annotations

import numpy as np

from madray.errors import DataError


def _fractions(n_r, n_s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_r, n_s = np.asarray(n_r, dtype=float), np.asarray(n_s, dtype=float)
    if np.any(n_r < 1) or np.any(n_s < 0):
        raise DataError(f"n_e/n_r needs n_r >= 1 and n_s >= 0, got n_r = {n_r}, n_s = {n_s}")
    n = n_r + n_s
    return n, n_r / n, n_s / n


def mean_ne_ratio(n_r, n_s, lam=1.0) -> np.ndarray:
    """Exact steady-state n_e/n_r of the fresh-data loop for the squared mean error (see module doc)."""
    n, a, b = _fractions(n_r, n_s)
    if np.any(n < 2):
        raise DataError("the unbiased covariance needs n_r + n_s >= 2")
    return (1 + b) * (1 - lam * b) / a - lam * b**2 / (a * (n - 1))


def mean_ne_ratio_limit(n_r, n_s, lam=1.0) -> np.ndarray:
    """The large-sample limit of `mean_ne_ratio`: (1 + b)(1 - λb)/a; (n_r + 2n_s)/(n_r + n_s) at λ = 1."""
    _, a, b = _fractions(n_r, n_s)
    return (1 + b) * (1 - lam * b) / a


def ols_error(d: int, sigma: float, T: int) -> float:
    """E‖ŵ - w‖² of OLS on T samples with x ~ N(0, I_d) and label noise σ² (needs T > d + 1)."""
    if T <= d + 1:
        raise DataError(f"the OLS error σ²d/(T-d-1) needs T > d + 1, got T = {T}, d = {d}")
    return sigma**2 * d / (T - d - 1)


def _check_design(design: str) -> None:
    if design not in ("fixed", "fresh"):
        raise DataError(f"design = {design!r} is not allowed: fixed or fresh")


def linreg_replace_error(generations: int, d: int, sigma: float, n_ini: int, n_s: int, lam: float = 1.0,
                         design: str = "fixed") -> np.ndarray:
    """Expected excess test error of generations 1..G in the replace loop (exact; see the module doc)."""
    _check_design(design)
    if design == "fixed" and n_s != n_ini:
        raise DataError(f"the fixed-design replace curve needs n_s = n_ini (one X), got n_ini = {n_ini}, n_s = {n_s}")
    steps = np.full(generations, lam * ols_error(d, sigma, n_s))
    steps[0] = ols_error(d, sigma, n_ini)
    return np.cumsum(steps)


def linreg_accumulate_error(generations: int, d: int, sigma: float, T: int, lam: float = 1.0,
                            design: str = "fixed") -> np.ndarray:
    """Expected excess test error of generations 1..G in the accumulate loop, n_ini = n_s = T (exact)."""
    _check_design(design)
    i = np.arange(1, generations + 1)
    if design == "fixed":
        steps = lam * ols_error(d, sigma, T) / i**2
    else:
        ols_error(d, sigma, T)  # the same validity check as generation 1
        steps = lam * sigma**2 * d / (i * (i * T - d - 1))
    steps[0] = ols_error(d, sigma, T)
    return np.cumsum(steps)


def linreg_accumulate_real_error(generations: int, d: int, sigma: float, T: int, lam: float = 1.0) -> np.ndarray:
    """Expected excess test error of generations 1..G when real data accumulate too (fixed design, n_ini = n_r = n_s = T).

    Every block of the pool is X with its own noise: generation 1's real labels, t − 1 fresh real
    blocks and the t − 1 synthetic blocks y = Xŵ_j + √λE. With A = (XᵀX)⁻¹Xᵀ and B_t = 2t − 1 blocks,
    (2t − 1) δ_t = Σ_{j ≤ t} A E^real_j + Σ_{j < t} (δ_j + √λ A E^syn_j): each δ_t is a linear
    combination of independent noise terms, so E‖δ_t‖² = σ²d/(T − d − 1) · Σ (coefficient² · its variance
    factor: 1 real, λ synthetic), computed exactly from the coefficients.
    """
    e = ols_error(d, sigma, T)
    G = generations
    coef = np.zeros((G, 2 * G - 1))  # columns: real noises 1..G, synthetic noises 1..G-1
    weight = np.r_[np.ones(G), np.full(G - 1, lam)]
    for t in range(1, G + 1):
        row = np.zeros(2 * G - 1)
        row[:t] = 1.0
        row[G:G + t - 1] = 1.0
        row += coef[:t - 1].sum(axis=0)
        coef[t - 1] = row / (2 * t - 1)
    return e * (coef**2 @ weight)
