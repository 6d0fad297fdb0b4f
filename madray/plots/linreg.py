"""Linear regression: replace vs accumulate test error with the theory lines (Gerstgrasser et al. 2024, Fig. 1 style)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from madray.analysis.theory import (
    linreg_accumulate_error,
    linreg_replace_error,
    ols_error,
)
from madray.errors import DataError
from madray.plots.style import (
    GENERATION_LABEL,
    band,
    describe,
    line_styles,
    metric_label,
    new_figure,
    panels,
    seaborn_style,
    title,
    varying,
)

REPLACE_LOOPS = ("replace", "fully_synthetic")


def theory_lines(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Theory curves that apply to one panel's rows (all sharing d, σ, n_ini, n_s, λ, design): name -> values per generation."""
    first = rows.iloc[0]
    G, d, sigma = int(rows["generation"].max()), int(first["param_d"]), float(first["param_sigma"])
    n_ini, n_s, lam = int(first["n_ini"]), int(first["n_s"]), float(first["lam"])
    design = str(first["param_design"]) if "param_design" in rows else "fresh"  # results from before the knob
    loops, lines = set(rows["loop"]), {}
    if loops & set(REPLACE_LOOPS) and min(n_ini, n_s) > d + 1 and (design == "fresh" or n_ini == n_s):
        lines["theory replace: Σ σ²d/(T−d−1)"] = linreg_replace_error(G, d, sigma, n_ini, n_s, lam, design)
    if "accumulate" in loops and n_ini == n_s > d + 1:
        name = ("theory accumulate, fixed X: σ²d/(T−d−1)·Σ 1/i²" if design == "fixed"
                else "theory accumulate, fresh X: Σ σ²d/(i(iT−d−1))")
        lines[name] = linreg_accumulate_error(G, d, sigma, n_s, lam, design)
        if lam == 1.0:
            lines["bound π²/6 · generation 1"] = np.full(G, math.pi**2 / 6 * ols_error(d, sigma, n_s))
    return lines


@seaborn_style
def linreg_vs_theory(df: pd.DataFrame, metric: str = "test_error") -> Figure:
    """Replicate mean ± 1 s.d. of the excess test error per loop, with the closed forms as black lines."""
    rows = df[(df["family"] == "linreg") & df[metric].notna()] if metric in df else df.iloc[:0]
    if rows.empty:
        raise DataError(f"the linear-regression figure needs linreg trials with {metric!r}; these results have none")
    loops = sorted(rows["loop"].unique())
    styles = dict(zip(loops, line_styles(len(loops))))
    groups = list(panels(rows, [k for k in varying(rows) if k != "loop"]))
    fig, axes = new_figure(len(groups))
    for ax, (heading, sub) in zip(axes, groups):
        for loop in loops:
            if (sub["loop"] == loop).any():
                band(ax, sub[sub["loop"] == loop], metric, markersize=3, label=f"loop={loop}", **styles[loop])
        generations = np.arange(1, int(sub["generation"].max()) + 1)
        for (name, values), style in zip(theory_lines(sub).items(), ["--", ":", "-."]):
            ax.plot(generations, values, color="black", linestyle=style, label=name)
        ax.set(title=heading, xlabel=GENERATION_LABEL, ylabel=metric_label(metric))
        ax.legend(fontsize="x-small")
    title(fig, "Linear regression: replace vs accumulate (Gerstgrasser et al. 2024)", describe(rows, skip=("loop",)))
    return fig

