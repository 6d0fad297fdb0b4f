"""Deep-family reproductions (torch): MAD's Rosenbrock flow and MNIST DDPM with sampling bias λ,
Gerstgrasser et al.'s VAE replace vs accumulate.

Laptop runs are a few generations with one or two replicates: the checks test the direction of the
paper's claim at the last generation (the sign only where one replicate gives no standard error).
"""

from __future__ import annotations

import pandas as pd

from madray.plots import metric_vs_generation, precision_recall
from madray.reproduce.base import Experiment, Verdict, decline, final_gap, rows_of


def check_flow(df: pd.DataFrame) -> Verdict:
    """MAD App. C.4 (Fig. 15): a flow sampled with λ < 1 loses diversity faster: lower recall at the last generation."""
    biased = min(df["lam"].unique())
    return FLOW.verdict([final_gap(df, "recall", {"lam": 1.0}, {"lam": float(biased)}, "λ < 1 ends with less recall"),
                         final_gap(df, "wasserstein", {"lam": float(biased)}, {"lam": 1.0}, "λ < 1 ends farther from the data")])


FLOW = Experiment(
    name="mad_rosenbrock_flow",
    paper="MAD (Alemohammad et al. 2024) App. C.4, Fig. 15",
    claim="A RealNVP flow on the 2D Rosenbrock density in a fully synthetic loop, sampled with latent N(0, λI), λ < 1, "
          "ends with lower recall and a larger Wasserstein distance than λ = 1.",
    check=check_flow,
    figure=lambda df, root: precision_recall(df),
    cost="407 s (shared 2 cores, load 6-9)",
    deep=True,
    paper_scale=("n_ini=10000", "n_s=10000", "generations=16", "params.flow.steps=10000", "params.flow.n_eval=10000"),
    note="Laptop: 2,000 samples per generation, 5 generations, 2 replicates, 1,000 Adam steps (the paper: 10⁴ samples, 16 generations).",
)


def check_ddpm(df: pd.DataFrame) -> Verdict:
    """MAD §3 (Figs. 4 and 14, App. C.3): in the fully synthetic loop recall falls for every λ; with guidance (λ < 1) it
    ends lower while precision stays higher than with λ = 1."""
    biased = float(min(df["lam"].unique()))
    falls = [decline(rows_of(df, lam=lam), "recall", f"λ={lam:g}", "recall falls over the generations")
             for lam in (1.0, biased)]
    return DDPM.verdict([final_gap(df, "recall", {"lam": 1.0}, {"lam": biased}, "λ < 1 ends with less recall"),
                         final_gap(df, "precision", {"lam": biased}, {"lam": 1.0}, "λ < 1 keeps more precision")] + falls)


DDPM = Experiment(
    name="mad_mnist_ddpm",
    paper="MAD (Alemohammad et al. 2024) §3, Figs. 4 and 14 (App. C.3)",
    claim="A conditional DDPM on MNIST in a fully synthetic loop: with guidance (λ < 1) the samples keep precision but lose "
          "recall relative to λ = 1.",
    check=check_ddpm,
    figure=lambda df, root: precision_recall(df),
    cost="43 min (idle 2 cores: two trials side by side, ~11 min per generation each)",
    deep=True,
    paper_scale=("n_ini=60000", "n_s=60000", "generations=10", "params.ddpm.steps=20000", "params.ddpm.channels=64",
                 "params.ddpm.n_eval=10000", "params.ddpm.n_ref=10000"),
    note="Laptop size runs only 4 generations of 2,250 training steps on the 5,000-digit MNIST set (the paper: 60k images, "
         "many generations); the paper's sizes need full MNIST (params.ddpm.path) and a GPU.",
)


def check_vae(df: pd.DataFrame) -> Verdict:
    """Gerstgrasser et al. §4: a VAE that replaces its data degrades (FID up); accumulating real + synthetic does not."""
    return VAE.verdict([final_gap(df, "fid", {"loop": "replace"}, {"loop": "accumulate"}, "replace ends with a higher FID")])


VAE = Experiment(
    name="gerstgrasser_vae",
    paper="Gerstgrasser et al. 2024 §4 (VAE on images)",
    claim="A VAE on MNIST that replaces its training data ends with a higher FID than one that accumulates real and synthetic data.",
    check=check_vae,
    figure=lambda df, root: metric_vs_generation(df, "fid"),
    cost="≈ 2 min (estimate: 20-25 s per generation measured; not timed whole)",
    deep=True,
    paper_scale=("n_ini=60000", "n_s=60000", "params.vae.steps=20000", "params.vae.n_eval=10000", "params.vae.n_ref=10000"),
    note="Laptop: the 5,000-digit MNIST set, 5 generations, one replicate (the sign of the gap only).",
)

EXPERIMENTS = (FLOW, DDPM, VAE)
