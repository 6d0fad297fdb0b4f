"""Training plumbing shared by the torch families: threads, device, seeding, minibatches, states.

Everything random inside a torch fit or sample runs under `seeded(seed)`, a forked global torch
RNG seeded from the trial's numpy generator, so weight initialisation, minibatch order, noise
and dropout all follow from (trial seed, generation, stream) like the analytic families, and no
global torch state leaks between replicates or trials.

States are flat dicts "<module>.<parameter>" -> tensor with a leading replicate axis (R, ...),
on the CPU, so `torch.save(state)` / `torch.load(path, weights_only=True)` round-trip them.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator

import numpy as np
import ray
import torch
from torch import nn

from madray.config import TrialConfig

Tensors = dict[str, torch.Tensor]


def configure(cfg: TrialConfig) -> torch.device:
    """Torch threads follow the trial's CPU resources; the device is the GPU Ray assigned to this worker
    when the trial asked for one (`resources.gpu > 0`, fractions included) and CUDA is there, else the CPU."""
    torch.set_num_threads(max(1, int(cfg.resources.cpu)))
    if cfg.resources.gpu > 0 and torch.cuda.is_available():
        assigned = ray.get_gpu_ids() if ray.is_initialized() else []
        device = torch.device("cuda", cuda_index(assigned, os.environ.get("CUDA_VISIBLE_DEVICES")))
        torch.cuda.set_device(device)  # allocations without an explicit device go there too
        return device
    return torch.device("cpu")


def cuda_index(assigned: list, visible: str | None) -> int:
    """torch's index of the first GPU Ray assigned (`ray.get_gpu_ids()`).

    Ray sets CUDA_VISIBLE_DEVICES of a worker to its assigned GPUs, so torch numbers them from 0; with
    RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES it does not, and the assigned id is an index into
    whatever CUDA_VISIBLE_DEVICES (or, unset, the machine) lists. Outside Ray (nothing assigned): 0.
    """
    if not assigned:
        return 0
    first = str(assigned[0])
    if visible is None or not visible.strip():
        return int(first)
    listed = [v.strip() for v in visible.split(",")]
    if first not in listed:
        raise RuntimeError(f"Ray assigned GPU {first}, which CUDA_VISIBLE_DEVICES={visible!r} does not list")
    return listed.index(first)


PRECISIONS = ("auto", "bf16", "fp32")


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 matrix and convolution kernels run natively here: a CUDA GPU with bf16, or a
    CPU with AVX512-BF16 or AMX (elsewhere bf16 is emulated and slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # private but long-standing helpers; a torch without them gets float32
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed precision for a network's forward (and so backward) pass: "bf16" runs convolutions and
    matrix products in bfloat16 with float32 weights and reductions (torch.autocast); "auto" does so
    where `native_bf16`; "fp32" changes nothing."""
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seeds(rng: np.random.Generator, count: int) -> list[int]:
    """`count` torch seeds drawn from a numpy generator (one per replicate)."""
    return [int(s) for s in rng.integers(0, 2**62, size=count)]


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block under a torch RNG seeded with `seed`; the caller's RNG state is restored after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def minibatches(n: int, batch_size: int, steps: int, device: torch.device) -> Iterator[torch.Tensor]:
    """`steps` index batches: epochs of random permutations (batches never straddle two epochs)."""
    batch_size = min(batch_size, n)
    done = 0
    while done < steps:
        order = torch.randperm(n, device=device)
        for start in range(0, n - batch_size + 1, batch_size):
            if done == steps:
                return
            yield order[start : start + batch_size]
            done += 1


def run_steps(step: Callable[[Tensors], float], data: Tensors, steps: int, batch_size: int) -> np.ndarray:
    """Call `step` on `steps` minibatches of `data` (dict of equally long tensors); returns its losses."""
    first = next(iter(data.values()))
    losses = [step({k: v[idx] for k, v in data.items()}) for idx in minibatches(len(first), batch_size, steps, first.device)]
    return np.asarray(losses)


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One gradient step on `loss`; returns its value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def learning_rate_factor(step: int, steps: int, warm_up: bool) -> float:
    """Linear warm-up over the first 5% of the steps (when training from scratch), then cosine decay
    from 1 to 0.1 (the schedule of nanoGPT's train.py)."""
    warm = max(1, steps // 20) if warm_up else 0
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, steps - warm))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def to_device(batch: dict[str, np.ndarray], device: torch.device) -> Tensors:
    """One replicate's numpy arrays as tensors (floats as float32, integers as int64)."""
    out = {}
    for k, v in batch.items():
        dtype = np.float32 if np.issubdtype(v.dtype, np.floating) else np.int64
        out[k] = torch.from_numpy(np.asarray(v).astype(dtype)).to(device)  # astype copies: inputs may be read-only
    return out


# --------------------------------------------------------------------------- states
def module_state(modules: dict[str, nn.Module]) -> Tensors:
    """Named modules -> one flat dict "<module>.<param>" -> CPU tensor."""
    return {f"{name}.{k}": v.detach().cpu().clone() for name, m in modules.items() for k, v in m.state_dict().items()}


def load_modules(modules: dict[str, nn.Module], flat: Tensors) -> None:
    """Inverse of `module_state` (strict: every parameter must be present)."""
    for name, m in modules.items():
        prefix = f"{name}."
        m.load_state_dict({k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)})


def stack_states(states: list[Tensors]) -> Tensors:
    """Per-replicate flat states -> one state with a leading replicate axis."""
    return {k: torch.stack([s[k] for s in states]) for k in states[0]}


def replicate(state: Tensors, r: int) -> Tensors:
    """Replicate r's slice of a stacked state."""
    return {k: v[r] for k, v in state.items()}


def replicates(state: Tensors) -> int:
    return len(next(iter(state.values())))


class EMA:
    """Exponential moving average of a module's weights (Ho et al. 2020 sample from an EMA, decay 0.9999).

    The decay ramps up as min(decay, (1 + n)/(10 + n)) after n updates, so that a short training
    run's average does not remember the random initialisation. Integer buffers are copied.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay, self.updates = decay, 0
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].lerp_(v, 1 - d)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, module: nn.Module) -> None:
        module.load_state_dict(self.shadow)
