"""`madray reproduce`: the papers' experiments, each a sweep file, a figure and a check of the claim.

Adding a reproduction is one `Experiment` (in the module of its family) plus its sweep file in
sweeps/reproduce/; EXPERIMENTS lists them in catalogue order.
"""

from madray.reproduce import accumulate_real, deep, gaussian, gmm, linreg
from madray.reproduce.base import Experiment, Finding, Verdict
from madray.reproduce.run import Outcome, experiment_sweep, run_experiment

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (*gaussian.EXPERIMENTS, *gmm.EXPERIMENTS, *linreg.EXPERIMENTS,
                                                     *accumulate_real.EXPERIMENTS, *deep.EXPERIMENTS)}

__all__ = ["EXPERIMENTS", "Experiment", "Finding", "Verdict", "Outcome", "experiment_sweep", "run_experiment"]
