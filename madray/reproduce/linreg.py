"""Linear regression reproduction: Gerstgrasser et al. 2024 §2, replace vs accumulate against the theory lines."""

from __future__ import annotations

import pandas as pd

from madray.analysis.theory import linreg_accumulate_error, linreg_replace_error
from madray.plots import linreg_vs_theory
from madray.reproduce.base import Experiment, Verdict, matches, mean_se, per_replicate

REPLACE = ("replace", "fully_synthetic")


def check_linreg(df: pd.DataFrame) -> Verdict:
    """Gerstgrasser et al. Thm. 1–2 (fixed design): replace's error grows as t·σ²d/(T−d−1), accumulate's as Σ 1/i²."""
    findings = []
    for loop, rows in df.groupby("loop"):
        first = rows.iloc[0]
        G, d, sigma = int(rows["generation"].max()), int(first["param_d"]), float(first["param_sigma"])
        T, lam, design = int(first["n_s"]), float(first["lam"]), str(first.get("param_design", "fixed"))
        if loop in REPLACE:
            line = linreg_replace_error(G, d, sigma, int(first["n_ini"]), T, lam, design=design)
            source = f"t·σ²d/(T−d−1), {design} design"
        else:
            line = linreg_accumulate_error(G, d, sigma, T, lam, design=design)
            source = "σ²d/(T−d−1)·Σ_{i≤t} 1/i²" if design == "fixed" else "Σ_i σ²d/(i(iT−d−1)), fresh design"
        value, se = mean_se(per_replicate(rows, "test_error"))
        findings.append(matches(f"{loop}: mean test error at t={G}", value, se, float(line[-1]), source))
    return LINREG.verdict(findings)


LINREG = Experiment(
    name="gerstgrasser_linreg",
    paper="Gerstgrasser et al. 2024 §2 (Thm. 1–2, Fig. 1)",
    claim="Linear regression with a fixed design: replace's test error grows linearly, t·σ²d/(T−d−1); accumulate's stays "
          "bounded at σ²d/(T−d−1)·Σ 1/i² < π²/6 times the first.",
    check=check_linreg,
    figure=lambda df, root: linreg_vs_theory(df),
    cost="21 s (niced, shared 2 cores, load 2)",
    paper_scale=("generations=50", "replicates=1000"),
    note="Laptop: d = 10, T = 50, 8 generations, 2000 replicates (the paper's theory has no sample size; these are its Fig. 1 knobs).",
)

EXPERIMENTS = (LINREG,)
