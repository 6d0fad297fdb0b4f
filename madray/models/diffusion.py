"""Denoising diffusion (Ho et al. 2020), DDIM sampling (Song et al. 2021) and classifier-free
guidance (Ho & Salimans 2022), as small functions of an ε-prediction network.

Timesteps are indexed t = 0 … T−1 (the papers' t = 1 … T).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> predicted noise ε


def linear_betas(T: int) -> torch.Tensor:
    """Ho et al.'s linear schedule β from 1e-4 to 0.02 at T = 1000, rescaled by 1000/T so that
    other T keep the same total noise (ᾱ_T ≈ 4e-5 at T = 1000, ≈ 6e-5 at T = 500)."""
    scale = 1000.0 / T
    return torch.linspace(1e-4 * scale, 0.02 * scale, T, dtype=torch.float64)


def alpha_bars(T: int) -> torch.Tensor:
    """ᾱ_t = Π_{s ≤ t} (1 − β_s), float64, shape (T,)."""
    return torch.cumprod(1.0 - linear_betas(T), dim=0)


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """Ho et al. Eq. 4: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε."""
    a = abar[t].float().view(-1, *([1] * (x0.dim() - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def denoising_loss(eps_model: Callable[..., torch.Tensor], x0: torch.Tensor, cond: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """Ho et al. Eq. 14 (L_simple): ‖ε − ε_θ(x_t, t, c)‖² with t uniform and ε ~ N(0, I)."""
    t = torch.randint(0, len(abar), (len(x0),), device=x0.device)
    noise = torch.randn_like(x0)
    return (eps_model(q_sample(x0, t, noise, abar), t, cond) - noise).pow(2).mean()


def guidance_weight(lam: float) -> float:
    """MAD's sampling bias for diffusion: λ = 1/(1 + w), so w = 1/λ − 1 (λ = 1: no guidance)."""
    return 1.0 / lam - 1.0


def guided(eps_model: Callable[..., torch.Tensor], cond: torch.Tensor, null: torch.Tensor, w: float) -> EpsFn:
    """Ho & Salimans Eq. 6: ε̃ = (1 + w) ε(x, c) − w ε(x, ∅); w = 0 skips the unconditional pass."""

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        conditional = eps_model(x, t, cond)
        if w == 0:
            return conditional
        return (1 + w) * conditional - w * eps_model(x, t, null)

    return eps


def sampling_timesteps(T: int, steps: int) -> list[int]:
    """`steps` timesteps evenly spread over 0 … T−1, descending (all T when steps = T)."""
    return sorted({round(i * (T - 1) / max(steps - 1, 1)) for i in range(steps)}, reverse=True)


def ddim_step(x: torch.Tensor, e: torch.Tensor, a_t: float, a_prev: float, eta: float) -> tuple[torch.Tensor, float]:
    """One step t → t_prev of Song et al. Eq. 12: the mean of x_{t_prev} and its noise scale σ.

    The predicted x_0 is clipped to [−1, 1] and ε recomputed to match it. With η = 1 and
    t_prev = t − 1, σ² = β̃_t and the mean is Ho et al.'s posterior mean μ̃_t (Eq. 7).
    """
    x0 = ((x - (1 - a_t) ** 0.5 * e) / a_t**0.5).clamp(-1, 1)
    e = (x - a_t**0.5 * x0) / (1 - a_t) ** 0.5
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5
    return a_prev**0.5 * x0 + max(1 - a_prev - sigma**2, 0.0) ** 0.5 * e, sigma


@torch.no_grad()
def ddim_sample(eps: EpsFn, x: torch.Tensor, abar: torch.Tensor, steps: int, eta: float = 0.0) -> torch.Tensor:
    """Song et al.'s sampler from x_T = `x` (standard normal) over `steps` timesteps; returns x_0 in [−1, 1].

    η = 0 is deterministic DDIM; η = 1 with all T steps is Ho et al.'s ancestral sampler
    (Algorithm 2 with σ_t² = β̃_t).
    """
    ts = sampling_timesteps(len(abar), steps)
    for i, t in enumerate(ts):
        a_prev = float(abar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        e = eps(x, torch.full((len(x),), t, device=x.device, dtype=torch.long))
        x, sigma = ddim_step(x, e, float(abar[t]), a_prev, eta)
        if sigma > 0:
            x = x + sigma * torch.randn_like(x)
    return x
