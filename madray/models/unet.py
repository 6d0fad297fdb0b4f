"""A small class-conditional U-Net for 28×28 images (the ε-network of the DDPM family).

Resolutions 28 → 14 → 7 with widths c, 2c, 2c; one residual block per level and direction,
skip connections by concatenation; the timestep (sinusoidal embedding, as Ho et al.) and the
class label (an embedding with one extra "no label" entry for classifier-free guidance) are
added to every block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017), shape (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb, c_out)
        self.norm2, self.conv2 = norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(emb)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class UNet(nn.Module):
    """ε_θ(x_t, t, y) for x_t of shape (N, 28, 28); y in 0 … classes, where `classes` means "no label"."""

    def __init__(self, channels: int = 32, classes: int = 10) -> None:
        super().__init__()
        c, emb = channels, 4 * channels
        self.time = nn.Sequential(nn.Linear(c, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.label = nn.Embedding(classes + 1, emb)
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.down1, self.pool1 = ResBlock(c, c, emb), nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.down2, self.pool2 = ResBlock(c, 2 * c, emb), nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1)
        self.mid = ResBlock(2 * c, 2 * c, emb)
        self.up2 = ResBlock(4 * c, 2 * c, emb)
        self.up1 = ResBlock(3 * c, c, emb)
        self.out = nn.Sequential(norm(c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))
        self.channels = c

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.channels)) + self.label(y)
        h28 = self.down1(self.inp(x.unsqueeze(1)), emb)  # 28×28, c
        h14 = self.down2(self.pool1(h28), emb)  # 14×14, 2c
        h = self.mid(self.pool2(h14), emb)  # 7×7, 2c
        h = self.up2(torch.cat([F.interpolate(h, scale_factor=2.0), h14], dim=1), emb)
        h = self.up1(torch.cat([F.interpolate(h, scale_factor=2.0), h28], dim=1), emb)
        return self.out(h).squeeze(1)
