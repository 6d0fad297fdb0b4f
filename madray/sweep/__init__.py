"""Running sweeps on Ray Tune: one Tune trial per grid point."""

from madray.sweep.runner import SweepOutcome, run_sweep

__all__ = ["SweepOutcome", "run_sweep"]
