"""GMM reproduction: MAD App. C.1, Figs. 11–12 (25-mode mixture in a fully synthetic loop)."""

from __future__ import annotations

import pandas as pd

from madray.plots import metric_vs_generation
from madray.reproduce.base import Experiment, Verdict, decline


def check_gmm(df: pd.DataFrame) -> Verdict:
    """MAD App. C.1, Figs. 11–12: the fully synthetic GMM loop loses modes, and recall (diversity) falls with them."""
    findings = [decline(df, "modes_covered", "fully synthetic", "modes are lost across generations"),
                decline(df, "recall", "fully synthetic", "recall falls with the lost modes")]
    return GMM.verdict(findings)


GMM = Experiment(
    name="mad_gmm_modes",
    paper="MAD (Alemohammad et al. 2024) App. C.1, Figs. 11–12",
    claim="A 25-mode Gaussian mixture refitted by EM on its own samples loses modes across generations, and its recall "
          "(the diversity metric) falls with them.",
    check=check_gmm,
    figure=lambda df, root: metric_vs_generation(df, "modes_covered"),
    cost="95 s (shared 2 cores, load 6-9)",
    paper_scale=("n_ini=10000", "n_s=10000", "generations=30", "params.gmm.n_eval=10000"),
    note="Laptop: 500 samples per generation, 10 generations, 10 replicates.",
)

EXPERIMENTS = (GMM,)
