"""The memory loop (MAD App. I, Experiment 2, Fig. 33) against a simulation written here.

The simulation keeps the last K fitted Gaussians and draws each of the n_s synthetic samples
from one of them picked uniformly at random (per-sample Cholesky factors, not madray's code).
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from helpers import trial_config

from madray.analysis import effective_sample_size
from madray.trial import run_trial

N_R, N_S, D, N_INI, GENS, REPS, STEADY = 50, 500, 5, 1000, 40, 200, 20
KS = (1, 2, 4)


def fit(x):
    mu = x.mean(axis=1)
    xc = x - mu[:, None]
    return mu, np.linalg.cholesky(np.swapaxes(xc, 1, 2) @ xc / (x.shape[1] - 1))


def simulate_memory(K: int, seed: int) -> np.ndarray:
    """‖μ̂_t‖² per (generation, replicate) of the memory loop, truth N(0, I_D)."""
    rng = np.random.default_rng(seed)
    models = [fit(rng.standard_normal((REPS, N_INI, D)))]
    errors = [np.sum(models[0][0] ** 2, axis=1)]
    rows = np.arange(REPS)[:, None]
    for _ in range(2, GENS + 1):
        mus, roots = (np.stack(m) for m in zip(*models[-K:]))
        g = rng.integers(len(mus), size=(REPS, N_S))  # a model per synthetic sample
        synthetic = mus[g, rows] + np.einsum("rnij,rnj->rni", roots[g, rows], rng.standard_normal((REPS, N_S, D)))
        models.append(fit(np.concatenate([rng.standard_normal((REPS, N_R, D)), synthetic], axis=1)))
        errors.append(np.sum(models[-1][0] ** 2, axis=1))
    return np.asarray(errors)


def simulated_ratio(K: int) -> tuple[float, float]:
    """n_e/n_r = D / (N_R · mean steady ‖μ̂‖²) (n i.i.d. real samples give E‖μ̂‖² = D/n) and its SE."""
    per_replicate = simulate_memory(K, seed=100 + K)[-STEADY:].mean(axis=0)
    m, se = per_replicate.mean(), per_replicate.std(ddof=1) / np.sqrt(REPS)
    return D / (N_R * m), D / (N_R * m) * se / m


def memory_trial(K: int) -> pd.DataFrame:
    cfg = trial_config(loop="memory", n_ini=N_INI, n_r=N_R, n_s=N_S, K=K, generations=GENS, replicates=REPS,
                       seed=K, metrics=["mean_error"], params={"gaussian": {"d": D}})
    return pd.DataFrame(run_trial(dataclasses.replace(cfg, trial_id=f"K{K}")))


def madray_ratios() -> pd.DataFrame:
    frames = [memory_trial(K) for K in KS]
    return effective_sample_size(pd.concat(frames), distance="mean_error", steady=STEADY).set_index("K")


@pytest.mark.slow
def test_memory_n_e_grows_with_k_sublinearly_as_simulated():
    table = madray_ratios()
    ratio, se = table["ratio"], table["ratio_se"]
    for K in KS:
        sim, sim_se = simulated_ratio(K)
        assert abs(ratio[K] - sim) < 4 * np.hypot(se[K], sim_se), (K, ratio[K], sim)
        assert abs(table.loc[K, "drift_z"]) < 4  # the window is at the steady state
    # K = 1 is the fresh-data loop: (n_r + 2n_s)/(n_r + n_s) up to O(1/n)
    assert abs(ratio[1] - (N_R + 2 * N_S) / (N_R + N_S)) < 4 * se[1] + 0.02
    # increases with K ...
    for a, b in zip(KS, KS[1:]):
        assert ratio[b] - ratio[a] > 4 * np.hypot(se[a], se[b]), (a, b, ratio[a], ratio[b])
    # ... sublinearly: n_e grows less than proportionally to the number of models kept
    # (measured here: n_e/n_r ≈ 1.9, 2.6, 4.1 at K = 1, 2, 4 and 6.8 at K = 16)
    for K in KS[1:]:
        assert K * ratio[1] - ratio[K] > 4 * np.hypot(K * se[1], se[K]), (K, ratio[K], ratio[1])
