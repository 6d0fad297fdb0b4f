"""The n_e / n_r phase diagram over (n_r, n_s), one panel per λ, with the admissibility boundary (MAD Fig. 10).

The boundary is the contour n_e / n_r = 1 interpolated through the cells, or, for the results of a
boundary search (`madray search`, boundary.parquet), the searched n_s* per n_r as points with their
intervals as bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from madray.analysis.ess import effective_sample_size
from madray.errors import DataError
from madray.plots.style import describe, new_figure, panels, seaborn_style, title, varying


def fresh_gaussian(df: pd.DataFrame) -> pd.DataFrame:
    """The rows n_e / n_r is defined for: gaussian family, fresh-data loop, n_r > 0."""
    return df[(df["family"] == "gaussian") & (df["loop"] == "fresh_data") & (df["n_r"] > 0)]


def ratio_grid(table: pd.DataFrame) -> pd.DataFrame:
    """n_e / n_r with n_r as rows (largest on top, as on a y axis) and n_s as columns."""
    grid = table.pivot_table(index="n_r", columns="n_s", values="ratio", aggfunc="mean")
    return grid.sort_index(ascending=False)


def _annotate(ax, grid: pd.DataFrame, norm) -> None:
    """Write each cell's ratio (seaborn's annot=True re-draws the whole figure per panel to pick text colours)."""
    for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        if np.isfinite(value):
            dark = abs(norm(value) - 0.5) > 0.3  # strong colours at both ends of RdBu
            ax.text(j + 0.5, i + 0.5, f"{value:.2f}", ha="center", va="center", fontsize="small",
                    color="white" if dark else "black")


def _boundary(ax, grid: pd.DataFrame) -> None:
    """Contour n_e / n_r = 1 through the centres of the cells with n_s > 0, where those form a complete
    2-D grid that crosses 1.

    The n_s = 0 column is left out: without synthetic data the loop trains on its n_r fresh real
    samples alone, so n_e = n_r by definition and its estimate only scatters around 1 (a contour
    through it would draw a boundary tick there in every panel, λ = 1 included)."""
    synthetic = np.asarray(grid.columns, dtype=float) > 0
    values = grid.to_numpy(dtype=float)[:, synthetic]
    if min(values.shape) >= 2 and not np.isnan(values).any() and values.min() < 1 < values.max():
        x, y = np.meshgrid(np.flatnonzero(synthetic) + 0.5, np.arange(values.shape[0]) + 0.5)
        ax.contour(x, y, values, levels=[1.0], colors="black", linewidths=2)


def _cell_x(grid: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """Heat-map x coordinates of n_s values: log-linear between the (positive) column centres."""
    cols = np.asarray(grid.columns, dtype=float)
    keep = cols > 0
    return np.interp(np.log(values), np.log(cols[keep]), np.flatnonzero(keep) + 0.5)


def _searched(ax, grid: pd.DataFrame, boundary: pd.DataFrame) -> None:
    """Searched n_s* per n_r (black points) with their intervals (bars), on the heat map's cell coordinates."""
    rows = list(grid.index)
    found = boundary[np.isfinite(boundary["value"].to_numpy(float)) & boundary["n_r"].isin(rows)]
    if found.empty or (np.asarray(grid.columns, dtype=float) > 0).sum() < 2:
        return
    x = _cell_x(grid, found["value"].to_numpy(float))
    low, high = _cell_x(grid, found["low"].to_numpy(float)), _cell_x(grid, found["high"].to_numpy(float))
    y = np.array([rows.index(n) for n in found["n_r"]]) + 0.5
    ax.errorbar(x, y, xerr=[x - low, high - x], fmt="o", color="black", capsize=4, markersize=6, linewidth=2)


def _panel_boundary(boundary: pd.DataFrame | None, sub: pd.DataFrame, keys: list[str]) -> pd.DataFrame | None:
    """The boundary rows of one panel (same λ and other panel keys); None without a boundary table."""
    if boundary is None or boundary.empty or "n_r" not in boundary or boundary["knob"].iloc[0] != "n_s":
        return None
    mask = np.ones(len(boundary), dtype=bool)
    for k in keys:
        if k in boundary:
            mask &= boundary[k].to_numpy() == sub[k].iloc[0]
    return boundary[mask]


@seaborn_style
def phase_diagram(df: pd.DataFrame, distance: str = "frechet", steady: int | None = None,
                  table: pd.DataFrame | None = None, boundary: pd.DataFrame | None = None) -> Figure:
    """Heat map of n_e / n_r (annotated) per λ; black: the admissibility boundary n_e / n_r = 1.

    `table` is `effective_sample_size(...)` when already computed; otherwise it is computed here.
    `boundary` is a boundary search's table (`madray.load_boundary`) over n_s: its n_s* per n_r
    are drawn as points with interval bars instead of the contour through the cells.
    """
    rows = fresh_gaussian(df)
    if rows.empty:
        raise DataError("the phase diagram needs gaussian fresh_data trials with n_r > 0; these results have none")
    table = table if table is not None else effective_sample_size(rows, distance=distance, steady=steady)
    keys = ["lam"] + [k for k in varying(table, ["param_d", "n_ini", "K", "p", "seed"]) if k in table]
    finite = table["ratio"][np.isfinite(table["ratio"])].tolist() or [1.0]  # NaN: n_e off the reference grid
    norm = TwoSlopeNorm(vcenter=1.0, vmin=min(min(finite), 0.99), vmax=max(max(finite), 1.01))
    groups = list(panels(table, keys))
    fig, axes = new_figure(len(groups), size=(5.2, 4.2))
    for ax, (heading, sub) in zip(axes, groups):
        grid = ratio_grid(sub)
        sns.heatmap(grid, ax=ax, cmap="RdBu", norm=norm, linewidths=0.5, cbar_kws={"label": "n_e / n_r (dimensionless)"})
        _annotate(ax, grid, norm)
        searched = _panel_boundary(boundary, sub, keys)
        _boundary(ax, grid) if searched is None else _searched(ax, grid, searched)
        ax.set(title=heading, xlabel="n_s (synthetic samples per generation)",
               ylabel="n_r (fresh real samples per generation)")
    window = f"generations {table['steady_from'].min()}–{table['steady_to'].max()}"
    line = "line" if boundary is None else "points: searched"
    title(fig, f"Effective sample size n_e / n_r of the fresh-data loop (MAD Fig. 10); distance: "
               f"{table['distance'].iloc[0]}, steady state: {window}; black {line} admissibility boundary n_e / n_r = 1"
               f"{'' if boundary is None else ' with its interval'} (admissible towards large n_r, small n_s)",
          describe(rows, skip=("lam", "n_r", "n_s")))
    return fig
