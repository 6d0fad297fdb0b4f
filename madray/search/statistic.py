"""The searched statistic of one knob value, from the result rows of its replicate batches.

Batches at the same value are independent trials (seeds differ); their rows are pooled into one
trial with replicates numbered on, so the interval is that of all replicates together.

- `ratio` (= `ratio:w2_squared`): n_e / n_r of `madray.analysis.effective_sample_size` (MAD Eq. 3,
  matching E[W2²], App. A.4's "Wasserstein distance as implemented by the FID"), with its
  delta-method interval at `level`; `ratio:w2` matches E[W2] (at d = 2 the boundary n_s* moves by
  about 10%, docs/deviations.md).
- `final:<metric>`: the metric's mean over replicates at the final generation, ± z·s/√R.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import norm

from madray.analysis.ess import effective_sample_size
from madray.search.policy import Estimate
from madray.search.spec import FINAL, RATIOS


def pool(batches: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of several trials at one value as one trial (the first's id), replicates renumbered."""
    out, offset = [], 0
    for rows in batches:
        out.append(rows.assign(trial_id=batches[0]["trial_id"].iloc[0], replicate=rows["replicate"] + offset))
        offset += int(rows["replicate"].max()) + 1
    return pd.concat(out, ignore_index=True)


def estimate(rows: pd.DataFrame, statistic: str, level: float) -> Estimate:
    """The statistic of one trial's rows (pooled by `pool`) with its `level` interval."""
    replicates = int(rows["replicate"].nunique())
    if statistic in RATIOS:
        row = effective_sample_size(rows, distance=RATIOS[statistic], level=level).iloc[0]
        return Estimate(float(row["ratio"]), float(row["ratio_low"]), float(row["ratio_high"]), replicates)
    metric = statistic[len(FINAL):]
    final = rows[rows["generation"] == rows["generation"].max()][metric].astype(float)
    half = norm.ppf(0.5 + level / 2) * final.std(ddof=1) / math.sqrt(len(final)) if len(final) > 1 else math.nan
    return Estimate(float(final.mean()), float(final.mean() - half), float(final.mean() + half), replicates)
