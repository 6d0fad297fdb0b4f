"""GMM samples per generation: modes disappearing (MAD §4, Fig. 3 style).

The gmm family records metrics only, so the samples are recomputed: the trial's config is
rebuilt from its rows and re-run with `madray.trial.Trial`; every draw is seeded from
(seed, generation, stream), so generation t's model is the one whose metrics are in the
table. The points drawn are the family's evaluation sample (n_eval draws with the trial's λ
from the EVALUATE stream), the very points `modes_covered` counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from madray.analysis.trials import trial_config
from madray.errors import DataError
from madray.plots.style import describe, new_figure, seaborn_style, title
from madray.seeding import Stream, rng
from madray.trial import Trial


def most_collapsed(df: pd.DataFrame) -> str:
    """The gmm trial whose replicate-mean modes_covered drops most from generation 1 to its last."""
    gmm = df[df["family"] == "gmm"]
    if gmm.empty:
        raise DataError("these results have no gmm trials to draw samples of")
    by_gen = gmm.groupby(["trial_id", "generation"])["modes_covered"].mean().unstack()
    drop = by_gen.iloc[:, 0] - by_gen.ffill(axis=1).iloc[:, -1]
    return str(drop.sort_values(ascending=False, kind="stable").index[0])


def spread(last: int, count: int) -> list[int]:
    """Up to `count` generations from 1 to `last`, evenly spaced, both ends included."""
    return sorted(set(np.linspace(1, last, min(count, last)).round().astype(int).tolist()))


def generation_samples(df: pd.DataFrame, trial_id: str, generations: list[int], replicate: int = 0) -> dict[int, np.ndarray]:
    """Re-run the trial up to max(generations); the evaluation sample (n, 2) of `replicate` at each."""
    cfg = trial_config(df, trial_id)
    if not 0 <= replicate < cfg.replicates:
        raise DataError(f"replicate = {replicate} is not allowed: trial {trial_id} has replicates 0..{cfg.replicates - 1}")
    trial, out = Trial(cfg), {}
    while trial.generation < max(generations):
        trial.step(evaluate=False)  # the metrics are in the table already
        if trial.generation in generations:
            draw = trial.family.evaluation_sample(trial.state, rng(cfg.seed, trial.generation, Stream.EVALUATE))
            out[trial.generation] = draw["x"][replicate]
    return out


@seaborn_style
def gmm_samples(df: pd.DataFrame, trial_id: str | None = None, generations: list[int] | None = None,
                replicate: int = 0, panels: int = 6) -> Figure:
    """Scatter of one replicate's samples per generation with the true modes (×); titles count covered modes."""
    trial_id = trial_id or most_collapsed(df)
    rows = df[df["trial_id"] == trial_id]
    generations = generations or spread(int(rows["generation"].max()), panels)
    samples = generation_samples(df, trial_id, generations, replicate)
    from madray.models.gmm import (
        grid_modes,  # imports POT: only when a GMM figure is drawn
    )

    first = rows.iloc[0]
    modes = grid_modes(int(first["param_grid"]), float(first["param_spacing"]))
    covered = rows[rows["replicate"] == replicate].set_index("generation")["modes_covered"]
    fig, axes = new_figure(len(generations), ncols=min(len(generations), 3), size=(3.6, 3.6))
    reach = np.abs(modes).max() + float(first["param_spacing"])
    for ax, t in zip(axes, generations):
        # hollow circles under the samples: a lost mode is an empty circle
        ax.scatter(*modes.T, s=60, facecolors="none", edgecolors="grey", label="true modes")
        ax.scatter(*samples[t].T, s=6, alpha=0.6, color="tab:blue", label="samples")
        ax.set(title=f"t = {t}: {covered[t]:.0f} of {len(modes)} modes covered", xlim=(-reach, reach),
               ylim=(-reach, reach), aspect="equal", xlabel="x₁ (data units)", ylabel="x₂ (data units)")
    axes[0].legend(loc="upper right", fontsize="x-small")
    title(fig, f"GMM samples per generation (trial {trial_id}, replicate {replicate})", describe(rows))
    return fig
