"""RealNVP (Dinh et al. 2017) for 2D points: an affine normalisation, then alternating affine couplings.

Coupling (Eq. 4-5 of Dinh et al.): with x = (x_a, x_b), y_a = x_a and
y_b = x_b ⊙ exp(s(x_a)) + t(x_a); log|det ∂y/∂x| = Σ s(x_a). Alternate layers swap a and b.
Log-density by change of variables: log q(x) = log N(f(x); 0, I) + log|det ∂f/∂x|.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_SCALE_BOUND = 3.0  # s = bound·tanh(·): keeps exp(s) finite early in training


class Coupling(nn.Module):
    def __init__(self, dim: int, hidden: int, flip: bool) -> None:
        super().__init__()
        self.flip = flip
        self.split = dim // 2
        n_a = dim - self.split if flip else self.split
        self.net = nn.Sequential(
            nn.Linear(n_a, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2 * (dim - n_a))
        )
        nn.init.zeros_(self.net[-1].weight)  # each coupling starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    def _halves(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = x[:, : self.split], x[:, self.split :]
        return (b, a) if self.flip else (a, b)

    def _join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([b, a] if self.flip else [a, b], dim=1)

    def _scale_shift(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(a).chunk(2, dim=1)
        return LOG_SCALE_BOUND * torch.tanh(s / LOG_SCALE_BOUND), t

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self._halves(x)
        s, t = self._scale_shift(a)
        return self._join(a, b * torch.exp(s) + t), s.sum(dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        a, b = self._halves(y)
        s, t = self._scale_shift(a)
        return self._join(a, (b - t) * torch.exp(-s))


class RealNVP(nn.Module):
    """x -> z: per-dimension affine normalisation (initialised from data), then `layers` couplings."""

    def __init__(self, dim: int = 2, layers: int = 8, hidden: int = 64) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.couplings = nn.ModuleList(Coupling(dim, hidden, flip=i % 2 == 1) for i in range(layers))

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Start with standardised data (ActNorm-style data-dependent initialisation)."""
        self.loc.copy_(x.mean(dim=0))
        self.log_scale.copy_(-torch.log(x.std(dim=0).clamp_min(1e-6)))

    def to_latent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (x - self.loc) * torch.exp(self.log_scale)
        logdet = self.log_scale.sum().expand(len(x))
        for layer in self.couplings:
            z, ld = layer(z)
            logdet = logdet + ld
        return z, logdet

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z, logdet = self.to_latent(x)
        return -0.5 * (z**2).sum(dim=1) - 0.5 * z.shape[1] * math.log(2 * math.pi) + logdet

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.couplings):
            z = layer.inverse(z)
        return z * torch.exp(-self.log_scale) + self.loc
