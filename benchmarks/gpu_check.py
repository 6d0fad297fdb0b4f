"""One generation of each deep family on the GPU beside the same generation on the CPU.

Sizes are the first trial of each family's sweep (sweeps/<sweep>.yaml, one replicate), as in
bench_generation.py; the GPU run has `resources.gpu = 1`, so the family picks its device exactly as
a trial under Ray does (madray.torch_utils.configure). Printed per family: seconds per generation on
`--threads` CPU threads and on the GPU, the ratio, and the peak GPU memory the generation allocated
(torch.cuda.max_memory_allocated; the CUDA context itself, a few hundred MiB, comes on top).
The family's one-time set-up (shared inputs: the LeNet, the data) is left out of both times.

    python benchmarks/gpu_check.py                          # every deep family
    python benchmarks/gpu_check.py --families flow lm --threads 4

Without CUDA it says so and measures nothing (exit status 0).
"""

from __future__ import annotations

import argparse
import os

import torch
from bench_generation import SWEEPS, one_generation

from madray.spec import load_sweep

HERE = os.path.dirname(os.path.abspath(__file__))


def config(family: str, threads: int, gpu: float):
    path = os.path.join(HERE, "..", "sweeps", f"{SWEEPS[family]}.yaml")
    return load_sweep(path, [f"resources.cpu={threads}", f"resources.gpu={gpu}", "replicates=1", "generations=2"]).trials[0]


def measure(family: str, threads: int) -> dict[str, float]:
    cpu = one_generation(config(family, threads, 0))["generation"]
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    gpu = one_generation(config(family, threads, 1))
    torch.cuda.synchronize()
    return {"cpu_s": cpu, "gpu_s": gpu["generation"], "peak_mib": torch.cuda.max_memory_allocated() / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(SWEEPS), choices=list(SWEEPS))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads of the CPU run")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(f"no CUDA device here (torch {torch.__version__}, built with CUDA {torch.version.cuda}): nothing measured")
        return
    torch.zeros(1, device="cuda")  # CUDA's start-up (context, kernels) is not a generation's cost
    print(f"{torch.cuda.get_device_name()}; CPU runs on {args.threads} threads")
    print(f"{'family':8s} {'CPU s/gen':>10s} {'GPU s/gen':>10s} {'CPU/GPU':>8s} {'peak GPU MiB':>13s}")
    for family in args.families:
        m = measure(family, args.threads)
        print(f"{family:8s} {m['cpu_s']:10.2f} {m['gpu_s']:10.2f} {m['cpu_s'] / m['gpu_s']:8.1f} {m['peak_mib']:13.0f}")


if __name__ == "__main__":
    main()
