"""Analysis of results tables: effective sample size (MAD Eq. 3) and the closed forms it is tested against."""

from madray.analysis.ess import DISTANCES, effective_sample_size, steady_state
from madray.analysis.theory import (
    linreg_accumulate_error,
    linreg_replace_error,
    mean_ne_ratio,
    mean_ne_ratio_limit,
)
from madray.analysis.trials import sweep_trials, trial_config

__all__ = [
    "DISTANCES", "effective_sample_size", "steady_state", "mean_ne_ratio", "mean_ne_ratio_limit",
    "linreg_replace_error", "linreg_accumulate_error", "sweep_trials", "trial_config",
]
