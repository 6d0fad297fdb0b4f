"""EDM diffusion (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative
Models"): preconditioning, training loss and the deterministic Heun sampler, as small functions of
a raw network F(x, noise_label, class).

The data are scaled to [−1, 1] (σ_data = 0.5, Karras et al. §5). Noise levels are standard
deviations σ of x = y + σ·n; the denoiser D(x; σ) estimates y. Classifier-free guidance
(Ho & Salimans 2022) combines denoisers: D̃ = (1 + w) D(x; σ, c) − w D(x; σ, ∅), which is the
same combination as Ho & Salimans' Eq. 6 on ε, since ε and D are affine in each other at fixed σ.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

SIGMA_DATA = 0.5  # Table 1: σ_data = 0.5 for images scaled to [−1, 1]
NOISE_LABEL_SCALE = 250.0  # c_noise = ¼ ln σ (Table 1), ×250 so it spans what the U-Net's sinusoidal embedding saw for T = 500 timesteps

Net = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # F(c_in·x, noise label, class)
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # D(x, σ) for a fixed class vector


def _bcast(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.view(-1, *([1] * (x.dim() - 1)))


def denoise(net: Net, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Table 1, "Network and preconditioning": D(x; σ) = c_skip x + c_out F(c_in x; c_noise) with
    c_skip = σ_d²/(σ² + σ_d²), c_out = σ σ_d/√(σ² + σ_d²), c_in = 1/√(σ² + σ_d²), c_noise = ¼ ln σ."""
    s = _bcast(sigma, x)
    total = s**2 + SIGMA_DATA**2
    c_skip, c_out, c_in = SIGMA_DATA**2 / total, s * SIGMA_DATA / total.sqrt(), 1 / total.sqrt()
    return c_skip * x + c_out * net(c_in * x, NOISE_LABEL_SCALE * sigma.log() / 4, cond)


def training_sigmas(n: int, device: torch.device, p_mean: float = -1.2, p_std: float = 1.2) -> torch.Tensor:
    """Table 1, "Training": ln σ ~ N(P_mean, P_std²) with P_mean = −1.2, P_std = 1.2."""
    return (torch.randn(n, device=device) * p_std + p_mean).exp()


def loss(net: Net, y: torch.Tensor, cond: torch.Tensor, p_mean: float = -1.2, p_std: float = 1.2) -> torch.Tensor:
    """Eq. 8 with Table 1's weighting λ(σ) = (σ² + σ_d²)/(σ σ_d)² = 1/c_out², so every σ's term is a
    unit-variance regression of F onto its effective target (Eq. 8 rewritten as Eq. 2 of §5):
    E ‖F(c_in x; c_noise) − (y − c_skip x)/c_out‖², with x = y + σ n."""
    sigma = training_sigmas(len(y), y.device, p_mean, p_std)
    x = y + _bcast(sigma, y) * torch.randn_like(y)
    d = denoise(net, x, sigma, cond)
    weight = (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2
    return (_bcast(weight, y) * (d - y) ** 2).mean()


def guided(net: Net, cond: torch.Tensor, null: torch.Tensor, w: float) -> Denoiser:
    """Classifier-free guidance on the denoiser; w = 0 skips the unconditional pass."""

    def d(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        conditional = denoise(net, x, sigma, cond)
        if w == 0:
            return conditional
        return (1 + w) * conditional - w * denoise(net, x, sigma, null)

    return d


def sigma_steps(steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
    """Eq. 5: σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i < N, then σ_N = 0 (float64)."""
    i = torch.arange(steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + i / max(steps - 1, 1) * (lo - hi)) ** rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])


@torch.no_grad()
def heun_sample(d: Denoiser, noise: torch.Tensor, steps: int, sigma_min: float = 0.002,
                sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
    """Algorithm 1 (deterministic, 2nd-order Heun; 2N − 1 denoiser calls) from x_0 = σ_max · `noise`.
    Returns y in [−1, 1] (clipped)."""
    sigmas = sigma_steps(steps, sigma_min, sigma_max, rho).tolist()
    x = noise * sigmas[0]
    full = lambda s: torch.full((len(x),), s, device=x.device, dtype=x.dtype)  # noqa: E731
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        slope = (x - d(x, full(s))) / s
        x_next = x + (s_next - s) * slope
        if s_next > 0:  # second-order correction, except on the last step to σ = 0
            x_next = x + (s_next - s) * 0.5 * (slope + (x_next - d(x_next, full(s_next))) / s_next)
        x = x_next
    return x.clamp(-1, 1)
