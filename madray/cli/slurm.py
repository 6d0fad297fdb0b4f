"""Run a sweep as a Slurm batch job that requeues itself before its time limit until the sweep is done.

The job starts a Ray head on its first node and Ray workers on the others (srun), runs
`madray run SWEEP --out OUT` against them, and shortly before the time limit stops the sweep,
stops its Ray processes and requeues itself; each run resumes from the checkpoints in OUT, which
must be on a filesystem every node sees (or s3://). The sweep is validated before anything is
submitted. --print writes the batch script to stdout instead of submitting it.
"""

from __future__ import annotations

import argparse
import os

from madray.cluster.slurm import (
    REQUEUE_BEFORE_S,
    SlurmJob,
    check_fits,
    default_cpus,
    render,
    submit,
)
from madray.spec import DEFAULT_MAX_TRIALS, Sweep, load_sweep


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep YAML file, e.g. sweeps/quickstart.yaml")
    p.add_argument("--out", default="madray-results",
                   help="results folder on a shared filesystem, or s3://... (default: %(default)s, made absolute)")
    p.add_argument("--nodes", type=int, default=1, help="nodes (default: %(default)s)")
    p.add_argument("--cpus-per-node", type=int, default=None,
                   help="CPUs per node (default with --gpus-per-node: what the GPU trials filling a node need)")
    p.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per node, as --gres=gpu:N (default: 0)")
    p.add_argument("--time", default="24:00:00", help="time limit of each job run (Slurm's formats; default: %(default)s)")
    p.add_argument("--partition", default=None, help="Slurm partition")
    p.add_argument("--account", default=None, help="Slurm account")
    p.add_argument("--sbatch", action="append", default=[], metavar="OPTION",
                   help="an extra #SBATCH option, repeatable, e.g. --sbatch=--mem=63G --sbatch=--qos=long")
    p.add_argument("--requeue-before", type=int, default=REQUEUE_BEFORE_S, metavar="SECONDS",
                   help="stop and requeue this long before the time limit (default: %(default)s)")
    p.add_argument("--log", default="", help="Slurm output file (default: madray-<name>-<job id>.out here)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a sweep key (YAML value), as for `madray run`")
    p.add_argument("--max-trials", type=int, default=DEFAULT_MAX_TRIALS, metavar="N", help="as for `madray run`")
    p.add_argument("--force", action="store_true", help="as for `madray run` (skip the memory check)")
    p.add_argument("--print", dest="print_only", action="store_true", help="print the batch script, submit nothing")


def run_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The `madray run` options the job passes on, so that every run resolves the same sweep."""
    sets = [a for kv in args.overrides for a in ("--set", kv)]
    limit = ["--max-trials", str(args.max_trials)] if args.max_trials != DEFAULT_MAX_TRIALS else []
    return (*sets, *limit, *(["--force"] if args.force else []))


def make_job(sweep: Sweep, args: argparse.Namespace) -> SlurmJob:
    out = args.out if "://" in args.out else os.path.abspath(args.out)
    cpus = args.cpus_per_node if args.cpus_per_node is not None else default_cpus(sweep.trials, args.gpus_per_node)
    job = SlurmJob(sweep=os.path.abspath(args.sweep), name=sweep.name, out=out, cpus_per_node=cpus,
                   generations=sum(t.generations for t in sweep.trials), nodes=args.nodes,
                   gpus_per_node=args.gpus_per_node, time=args.time, partition=args.partition, account=args.account,
                   sbatch=tuple(args.sbatch), requeue_before_s=args.requeue_before,
                   log=os.path.abspath(args.log) if args.log else "", run_args=run_args(args))
    check_fits(job, sweep.trials)
    return job


def run(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.sweep, args.overrides, max_trials=args.max_trials, force=args.force)
    job = make_job(sweep, args)
    script = render(job)
    if args.print_only:
        print(script)
        return 0
    job_id = submit(script)
    print(f"submitted batch job {job_id}: sweep {sweep.name!r} ({sweep.size_line()}), results in "
          f"{os.path.join(job.out, sweep.name)}; it requeues itself until the sweep is done (squeue -j {job_id})")
    return 0
