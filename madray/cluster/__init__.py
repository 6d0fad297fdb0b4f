"""Batch-scheduler glue: scripts that run a sweep on a Ray cluster a scheduler allocates (Slurm)."""
