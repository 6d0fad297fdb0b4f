"""Plan a sweep before running it: grid points, distinct trials, memory, a pilot and a cost prediction.

The pilot runs the first generations (two, or more until 1 s) of the cheapest and the most expensive trial of each
family (at most --pilot-seconds), fits seconds per generation per family and predicts the
sweep's CPU-hours and wall time on --workers trial slots (or --nodes × --cpus-per-node CPUs).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict

from madray.config import ConfigError
from madray.search.spec import parse_search
from madray.spec import Sweep, load_sweep, read_spec
from madray.sweep.cost import total_work
from madray.sweep.plan import PILOT_S, RAY_START_S, TUNE_START_S, Plan, make_plan


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep YAML file, e.g. sweeps/quickstart.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a sweep key (YAML value), as for `madray run`")
    p.add_argument("--workers", type=int, default=None,
                   help="trials running at once (default: this machine's CPUs / CPUs per trial)")
    p.add_argument("--cpus-per-node", type=int, default=None, help="with --nodes: a cluster's CPUs per node")
    p.add_argument("--nodes", type=int, default=None, help="with --cpus-per-node: the number of nodes")
    p.add_argument("--gpus-per-node", type=int, default=None,
                   help="GPUs per node for trials with resources.gpu > 0 (default: this machine's, with --nodes: 0)")
    p.add_argument("--pilot-seconds", type=float, default=PILOT_S, help="time box of the pilot (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def workers(args: argparse.Namespace, cpus_per_trial: float, gpus_per_trial: float = 0.0) -> int:
    """Trial slots: --workers, else nodes × the trials one node holds (floor(cpus per node / cpus per trial),
    and with GPU trials at most floor(gpus per node / gpus per trial)), else this machine's."""
    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError(f"--workers = {args.workers} is not allowed: must be >= 1")
        return args.workers
    if (args.nodes is None) != (args.cpus_per_node is None):
        raise ConfigError("--nodes and --cpus-per-node go together: give both or neither")
    nodes, cpus = (args.nodes, args.cpus_per_node) if args.nodes is not None else (1, os.cpu_count() or 1)
    if nodes < 1 or cpus < cpus_per_trial:
        raise ConfigError(f"--nodes = {nodes}, --cpus-per-node = {cpus}: need >= 1 node with >= {cpus_per_trial} "
                          f"CPUs (resources.cpu of the largest trial)")
    per_node = int(cpus // cpus_per_trial)
    if gpus_per_trial > 0:
        gpus = args.gpus_per_node if args.gpus_per_node is not None else 0 if args.nodes is not None else local_gpus()
        if gpus < gpus_per_trial:
            raise ConfigError(f"--gpus-per-node = {gpus}: the trials ask for resources.gpu = {gpus_per_trial}; "
                              f"give the GPUs a node has with --gpus-per-node")
        per_node = min(per_node, int(gpus / gpus_per_trial + 1e-9))  # fractions: 4 trials of 0.25 per GPU
    return nodes * per_node


def local_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def format_plan(plan: Plan) -> str:
    lines = [
        (f"sweep {plan.sweep!r}: {plan.grid_points} grid points, {plan.trials} distinct trials, "
         f"{plan.trial_generations} trial-generations"),
        f"memory per trial (largest): {plan.memory_per_trial_mb:.1f} MiB of samples"
        + (" (families the pilot did not reach are not counted)" if plan.unpriced else ""),
        f"pilot: {plan.pilot_s:.1f} s" + ("" if plan.pilot_complete else " (time box reached)"),
    ]
    for family, cost in plan.families.items():
        lines.append(f"  {family:10s} seconds/generation = {cost['a_s']:.3g} + {cost['b_s_per_work']:.3g} × work "
                     f"({cost['pilot_generations']} pilot generations)")
    if plan.unpriced:
        lines.append(f"  not priced (no pilot generation finished in the {plan.pilot_s:.0f} s time box): "
                     f"{', '.join(plan.unpriced)}; raise --pilot-seconds above one generation of theirs")
    scope = " (priced trials only: a lower bound)" if plan.unpriced else ""
    lines += [
        (f"predicted{scope}: {plan.cpu_hours:.3g} CPU-hours, "
         + (f"{plan.gpu_hours:.3g} GPU-hours, " if plan.gpu_hours else "") + f"wall time {_hours(plan.wall_s)} on {plan.workers} "
         f"worker(s) ({plan.tune_trials} Tune trials: cheap trials run in packs)"),
        "dominant trials:",
        *(f"  {d['trial_id']}  {d['family']:8s} {d['loop']:22s} {d['generations']:4d} generations  {_hours(d['seconds'])}"
          for d in plan.dominant),
    ]
    return "\n".join(lines)


def _plan(sweep: Sweep, args: argparse.Namespace) -> Plan:
    slots = workers(args, max(t.resources.cpu for t in sweep.trials), max(t.resources.gpu for t in sweep.trials))
    return make_plan(sweep, slots, args.pilot_seconds)


def _search_bound(spec: dict, args: argparse.Namespace) -> tuple[Plan, dict]:
    """A search sweep's cost is adaptive: plan its dearer range end and bound the search by
    max_evaluations trials (replicate batches included) per grid point, each priced at that end."""
    found = parse_search(spec, args.sweep)
    s = found.search
    value, sweep = max(zip(s.range, found.ends), key=lambda e: sum(total_work(c) for c in e[1].trials))
    plan = _plan(sweep, args)
    k = s.max_evaluations
    bound = {"knob": s.knob, "priced_at": value, "max_evaluations": k, "cpu_hours_at_most": plan.cpu_hours * k,
             "wall_s_at_most": RAY_START_S + TUNE_START_S + plan.trials_s * k}
    return plan, bound


def format_bound(b: dict) -> str:
    return (f"search on {b['knob']}: at most {b['max_evaluations']} trials per grid point (replicate batches included), "
            f"each priced above at {b['knob']} = {b['priced_at']:g}, the dearer end of the range\n"
            f"upper bound for the search: {b['cpu_hours_at_most']:.3g} CPU-hours, wall time "
            f"{_hours(b['wall_s_at_most'])} (most searches stop well before max_evaluations)")


def run(args: argparse.Namespace) -> int:
    spec = read_spec(args.sweep, args.overrides)
    if isinstance(spec, dict) and "search" in spec:
        plan, bound = _search_bound(spec, args)
        print(json.dumps({**asdict(plan), "search": bound}, indent=2) if args.json
              else f"{format_plan(plan)}\n{format_bound(bound)}")
        return 0
    plan = _plan(load_sweep(args.sweep, args.overrides), args)
    print(json.dumps(asdict(plan), indent=2) if args.json else format_plan(plan))
    return 0
