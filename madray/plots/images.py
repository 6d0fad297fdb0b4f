"""Sample grids that image families save as artifacts (`artifacts/<trial_id>/gen-000001-samples.png`)."""

from __future__ import annotations

import io
import re

import matplotlib.image as mpimg
import pandas as pd
from matplotlib.figure import Figure

from madray.errors import DataError
from madray.plots.style import describe, new_figure, seaborn_style, title
from madray.results.folder import SweepFolder

SAMPLES = re.compile(r"gen-(\d+)-samples\.png$")


def sample_grid_files(root: str, trial_id: str) -> dict[int, str]:
    """generation -> path of the trial's saved sample grids under a sweep folder (local or URI)."""
    folder = SweepFolder(root)
    found = {}
    for info in folder.listing(folder.artifacts(trial_id)):
        match = SAMPLES.search(info.base_name)
        if match:
            found[int(match.group(1))] = info.path
    return dict(sorted(found.items()))


def trials_with_grids(df: pd.DataFrame, root: str) -> list[str]:
    return [t for t in sorted(df["trial_id"].unique()) if sample_grid_files(root, t)]


@seaborn_style
def sample_grids(df: pd.DataFrame, root: str, trial_id: str | None = None, panels: int = 6) -> Figure:
    """A trial's saved sample grids side by side, up to `panels` generations evenly spaced."""
    trial_id = trial_id or next(iter(trials_with_grids(df, root)), None)
    files = sample_grid_files(root, trial_id) if trial_id else {}
    if not files:
        raise DataError(f"no sample grids (artifacts/<trial_id>/gen-*-samples.png) under {root!r}")
    generations = list(files)
    step = max(1, -(-len(generations) // panels))
    chosen = sorted(set(generations[::step]) | {generations[-1]})
    fs = SweepFolder(root).fs
    fig, axes = new_figure(len(chosen), ncols=min(len(chosen), 6), size=(3.0, 3.2))
    for ax, t in zip(axes, chosen):
        with fs.open_input_file(files[t]) as f:
            ax.imshow(mpimg.imread(io.BytesIO(f.read()), format="png"), cmap="gray")
        ax.set(title=f"generation {t}", xticks=[], yticks=[])
        ax.grid(False)
    rows = df[df["trial_id"] == trial_id]
    title(fig, f"Samples per generation (trial {trial_id})", describe(rows))
    return fig
