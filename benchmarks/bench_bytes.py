"""Bytes an accumulate loop writes at 10 and at 30 generations: the pool by reference (each generation's
samples written once, madray/sweep/samples.py) against the pool inside every checkpoint (the reference,
measured in the same run by saving `Trial.state_dict()` whole, as madray did before).

Linear growth gives a 30/10 ratio of about 3, quadratic about 9. Counted as the bytes each write hands
to the filesystem (the sweep folder's writes), so the numbers do not depend on the disk or its cache.

    python benchmarks/bench_bytes.py [--d 10] [--replicates 10] [--n 1000]
"""

from __future__ import annotations

import argparse
import tempfile

import madray.results.folder as folder_module
import madray.sweep.checkpoint as checkpoint_module
from madray.results import files
from madray.results.folder import SweepFolder
from madray.results.schema import file_schema
from madray.spec import dump_sweep, parse_sweep
from madray.sweep.checkpoint import CheckpointStore
from madray.sweep.experiment import results_schema
from madray.sweep.trainable import TrialRunner
from madray.trial import Trial


def counted() -> list[int]:
    """Sizes of every file written from now on (both writers of the sweep folder go through atomic_write)."""
    sizes: list[int] = []

    def counting(fs, path, content):
        sizes.append(len(content))
        return files.atomic_write(fs, path, content)

    folder_module.atomic_write = checkpoint_module.atomic_write = counting
    return sizes


def written(generations: int, args, whole_pool: bool) -> int:
    spec = {"name": "bytes", "family": "gaussian", "loop": "accumulate", "generations": generations,
            "replicates": args.replicates, "n_ini": args.n, "n_s": args.n, "params": {"gaussian": {"d": args.d}}}
    sweep = parse_sweep(spec)
    with tempfile.TemporaryDirectory() as out:
        folder = SweepFolder(f"{out}/bytes")
        folder.prepare(dump_sweep(sweep), results_schema(sweep))
        sizes = counted()
        cfg, schema = sweep.trials[0], file_schema(results_schema(sweep))
        if whole_pool:
            trial, checkpoints = Trial(cfg), CheckpointStore(folder)
            while not trial.done:
                folder.write_rows(cfg.trial_id, trial.generation + 1, trial.step(), schema)
                checkpoints.save(cfg.trial_id, trial.state_dict())
        else:
            TrialRunner(folder, schema).run(cfg, lambda trial, summary: None)
        return sum(sizes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d", type=int, default=10)
    p.add_argument("--replicates", type=int, default=10)
    p.add_argument("--n", type=int, default=1000, help="n_ini = n_s")
    args = p.parse_args()
    print(f"accumulate, Gaussian d = {args.d}, {args.replicates} replicates, n_ini = n_s = {args.n}")
    for name, whole in (("pool by reference (madray)", False), ("pool in every checkpoint (reference)", True)):
        b10, b30 = written(10, args, whole), written(30, args, whole)
        print(f"{name:40s} 10 generations {b10 / 1e6:8.1f} MB   30 generations {b30 / 1e6:8.1f} MB   "
              f"ratio 30/10 {b30 / b10:5.2f}  (linear 3, quadratic ~9)")


if __name__ == "__main__":
    main()
