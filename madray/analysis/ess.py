"""Effective sample size n_e of a self-consuming loop's steady state (MAD §5, Eq. 3, Fig. 10).

n_e is the number of i.i.d. real samples whose fit has the same expected distance to the
truth as the loop's steady state: E[D(loop, t → ∞)] = E[D_{n_e}(real only)]. The loop is
*admissible* when n_e / n_r ≥ 1: its synthetic data did not cost more than they gave.

Distance. MAD Eq. 3 matches "E[dist(G(n_e), P_r)]", and App. A.4 uses "the Wasserstein distance
as implemented by the Fréchet Inception Distance (FID)", whose formula is the squared 2-Wasserstein
distance between Gaussians: the gaussian family's `frechet` (W2² to the truth N(0, I_d)). That is
the default (`frechet`, also named `w2_squared`); `w2` matches E[W2] instead (its reference
E[√FD_n] by Monte Carlo), which at d = 2 moves n_e/n_r by about 7% (docs/deviations.md). The default:
it sees both the mean and the covariance, so it shows the λ < 1 phase transition (Fig. 10),
which is a loss of diversity (Σ̂ shrinks). `distance="mean_error"` uses ‖μ̂ − μ‖² instead:
its reference is exactly d/n and its steady state has a closed form
(madray.analysis.theory.mean_ne_ratio, (n_r + 2n_s)/(n_r + n_s) at λ = 1), but it is blind
to the covariance and so never shows the λ transition.

Ratio. n_e / n_r divides by the real samples the loop actually uses per generation, as the loop
reports them (`Loop.real_per_generation`): n_r for fresh_data, synthetic_augmentation and
memory; round(p·n_ini) for mixture. fully_synthetic/replace and the accumulate loops have no
such number: their ratio is NaN and `ratio_reason` says why.

Estimator. Per replicate, the distance is averaged over the last `steady` generations
(the steady state; the default is the second half of the run); the replicate averages are
independent, so their mean D̄ has standard error s/√R whatever the autocorrelation across
generations. n_e solves E[D_{n_e}] = D̄ on the i.i.d. reference curve
(madray.analysis.reference) of the trial's own estimator (`params.gaussian.estimator`). Its uncertainty is the delta method on the log scale:
SE(log n_e) = √((SE(D̄)/D̄)² + (SE_ref/E[D])²) / |d log E[D_n] / d log n|, and the interval
is n_e·exp(± z·SE(log n_e)).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from madray.analysis.reference import (
    FrechetReference,
    MeanReference,
    Reference,
    W2Reference,
)
from madray.config import KNOB_COLUMNS, TrialConfig
from madray.errors import DataError
from madray.loops import loop_class
from madray.models.gaussian import ESTIMATORS

# distance name -> (results column, transform to the distance D, reference curve for dimension d)
DISTANCES = {
    "frechet": ("frechet", lambda v: v, FrechetReference),  # E[W2²]: MAD App. A.4's "as implemented by the FID"
    "mean_error": ("mean_error", np.square, MeanReference),
    "w2_squared": ("frechet", lambda v: v, FrechetReference),  # frechet by its other name
    "w2": ("frechet", np.sqrt, W2Reference),  # E[W2]: Eq. 3's E[dist] read with dist = W2
}

KEEP = ["sweep", *KNOB_COLUMNS, "replicates", "param_d", "param_estimator"]
# TrialConfig's own scalar knobs (the flattened curate_* columns are not constructor arguments)
_SCALAR_FIELDS = [f.name for f in dataclasses.fields(TrialConfig) if f.name in KNOB_COLUMNS]


def _check(df: pd.DataFrame, distance: str) -> pd.DataFrame:
    if distance not in DISTANCES:
        raise DataError(f"distance = {distance!r} is not allowed; allowed: {', '.join(DISTANCES)}")
    if "family" not in df or not (df["family"] == "gaussian").any():
        found = sorted(df["family"].unique()) if "family" in df else "no family column"
        raise DataError(f"the effective sample size needs results of the gaussian family; found: {found}")
    column = DISTANCES[distance][0]
    gauss = df[df["family"] == "gaussian"]
    if column not in gauss or gauss[column].isna().all():
        raise DataError(f"distance {distance!r} needs the metric column {column!r}, which these results lack")
    return gauss


def steady_state(df: pd.DataFrame, distance: str = "frechet", steady: int | None = None) -> pd.DataFrame:
    """Per trial: D̄ (mean over replicates of the steady-window average of D), its SE and the window."""
    gauss = _check(df, distance)
    column, transform, _ = DISTANCES[distance]
    rows = []
    for trial_id, trial in gauss.groupby("trial_id", sort=True):
        last = int(trial["generation"].max())
        window = steady if steady is not None else max(1, math.ceil(last / 2))
        if not 1 <= window <= last:
            raise DataError(f"steady = {window} generations is not allowed: trial {trial_id} has {last}; use 1..{last}")
        tail = trial[trial["generation"] > last - window]
        D = tail.assign(D=transform(tail[column].to_numpy(float))).pivot(index="replicate", columns="generation", values="D")
        per_replicate = D.mean(axis=1)
        config = {k: trial[k].iloc[0] for k in KEEP if k in trial}
        rows.append({"trial_id": trial_id, **config, "steady_from": last - window + 1, "steady_to": last,
                     "D_mean": per_replicate.mean(), "D_se": _se(per_replicate), "drift_z": _drift_z(D)})
    return pd.DataFrame(rows)


def _se(values: pd.Series) -> float:
    return values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")


def _drift_z(D: pd.DataFrame) -> float:
    """Late half minus early half of the window (replicates × generations), in standard errors.

    A loop at its steady state gives |drift_z| of order 1; a large value says the window still
    contains the approach to it (run more generations or pass a shorter `steady`).
    """
    half = D.shape[1] // 2
    if half == 0:
        return float("nan")
    diff = D.iloc[:, -half:].mean(axis=1) - D.iloc[:, :half].mean(axis=1)
    return float(diff.mean() / _se(diff))


def real_per_generation(row: dict) -> tuple[float, str]:
    """The ratio's denominator for one trial's row (NaN where there is none) and, then, why."""
    knobs = {k: row[k].item() if hasattr(row[k], "item") else row[k] for k in _SCALAR_FIELDS if k in row}
    loop = loop_class(knobs["loop"])
    n = loop.real_per_generation(TrialConfig(**knobs))
    return (float(n), "") if n else (float("nan"), f"loop {knobs['loop']!r}: {loop.no_ratio}")


def effective_sample_size(
    df: pd.DataFrame,
    distance: str = "frechet",
    steady: int | None = None,
    level: float = 0.95,
    reference_draws: int | None = None,
) -> pd.DataFrame:
    """n_e (MAD Eq. 3) and n_e / n_r with standard errors and `level` intervals, one row per gaussian trial.

    `df` is `madray.load_results(...)` (or rows of `run_trial` as a DataFrame); `steady` is the
    number of final generations that make up the steady state (default: the second half).
    `ratio` is n_e over the real samples per generation (see the module doc; NaN with a
    `ratio_reason` for loops without one); `admissible` is ratio >= 1. `drift_z` checks the steady state:
    the late half of the window minus the early half, in standard errors (|drift_z| >> 3: not steady yet).
    """
    if not 0 < level < 1:
        raise DataError(f"level = {level!r} is not allowed: a confidence level in (0, 1), e.g. 0.95")
    table = steady_state(df, distance, steady)
    make_reference = DISTANCES[distance][2]
    references: dict[tuple[int, int], Reference] = {}
    z = norm.ppf(0.5 + level / 2)
    out = []
    for row in table.to_dict("records"):
        estimator = row.get("param_estimator")
        key = int(row["param_d"]), ESTIMATORS[estimator if isinstance(estimator, str) else "unbiased"]
        if key not in references:
            references[key] = make_reference(key[0], draws=reference_draws, ddof=key[1])
        inv = references[key].invert(row["D_mean"])
        se_log = math.hypot(row["D_se"] / row["D_mean"], inv.rel_se) / abs(inv.slope)
        n_r, row["ratio_reason"] = real_per_generation(row)
        row.update(distance=distance, n_e=inv.n, n_e_se=inv.n * se_log,
                   n_e_low=inv.n * math.exp(-z * se_log), n_e_high=inv.n * math.exp(z * se_log))
        row.update(ratio=row["n_e"] / n_r, ratio_se=row["n_e_se"] / n_r,
                   ratio_low=row["n_e_low"] / n_r, ratio_high=row["n_e_high"] / n_r)
        row["admissible"] = bool(row["ratio"] >= 1) if np.isfinite(row["ratio"]) else None
        out.append(row)
    return pd.DataFrame(out).sort_values(["lam", "n_r", "n_s", "trial_id"], ignore_index=True)
