"""WGAN with gradient penalty on MNIST (Gulrajani et al. 2017; MAD §5), with the truncation trick.

Generator: z (`latent`) → 7×7 → 14×14 → 28×28 by transposed convolutions, sigmoid output.
Critic: two strided convolutions and a linear layer, no normalisation (the penalty acts per
sample). Training: Algorithm 1 of Gulrajani et al.: `n_critic` critic steps per generator step,
penalty `gp_weight`·(‖∇D(x̂)‖ − 1)² on random interpolates x̂, Adam(β = 0.5, 0.9); `steps`
counts generator steps. Sampling bias λ is the truncation ψ = λ: z = ψ·ε with ε ~ N(0, I),
i.e. StyleGAN's w̄ + ψ(w − w̄) with w̄ = E[z] = 0 (ψ = 1: untruncated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from madray.models.image_family import ImageFamily, ImageParams
from madray.torch_utils import descend, run_steps

BETAS = (0.5, 0.9)


@dataclass(frozen=True)
class Params(ImageParams):
    family: ClassVar[str] = "wgan_gp"
    positive: ClassVar[tuple[str, ...]] = ImageParams.positive + ("latent", "channels", "n_critic", "gp_weight")

    latent: int = 64
    channels: int = 32  # generator/critic base width
    n_critic: int = 5  # critic steps per generator step (Gulrajani et al.: 5)
    gp_weight: float = 10.0  # λ of Gulrajani et al. (not MAD's sampling λ)
    steps: int = 500  # generator steps per generation
    batch_size: int = 64
    lr: float = 1e-3


def generator(latent: int, c: int) -> nn.Module:
    """z (N, latent) -> images (N, 28, 28) in [0, 1]."""
    return nn.Sequential(
        nn.Linear(latent, 2 * c * 7 * 7), nn.ReLU(), nn.Unflatten(1, (2 * c, 7, 7)),
        nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.ReLU(),  # 14×14
        nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1), nn.Sigmoid(), nn.Flatten(1, 2),  # 28×28
    )


def critic(c: int) -> nn.Module:
    """Images (N, 28, 28) -> scores (N,)."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 28)),
        nn.Conv2d(1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 14×14
        nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 7×7
        nn.Flatten(), nn.Linear(2 * c * 7 * 7, 1), nn.Flatten(0),
    )


def gradient_penalty(critic_net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al. Eq. 3: E[(‖∇_x̂ D(x̂)‖₂ − 1)²] at x̂ = εx + (1 − ε)x̃, ε ~ U[0, 1] per sample."""
    eps = torch.rand(len(real), 1, 1, device=real.device)
    mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic_net(mix).sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class WGANGP(ImageFamily):
    name = "wgan_gp"
    Params = Params

    def build(self):
        p = self.params
        return {"generator": generator(p.latent, p.channels), "critic": critic(p.channels)}

    def latents(self, n: int, psi: float = 1.0) -> torch.Tensor:
        return psi * torch.randn(n, self.params.latent, device=self.device)

    def train(self, modules, data, from_scratch):
        p = self.params
        gen, crit = modules["generator"].train(), modules["critic"].train()
        opt_g = torch.optim.Adam(gen.parameters(), lr=p.lr, betas=BETAS)
        opt_c = torch.optim.Adam(crit.parameters(), lr=p.lr, betas=BETAS)
        steps = self.train_steps(data)  # generator steps; the critic takes n_critic per step
        calls = iter(range(steps * p.n_critic))

        def step(batch):
            real = batch["x"]
            fake = gen(self.latents(len(real))).detach()
            loss = descend(opt_c, crit(fake).mean() - crit(real).mean() + p.gp_weight * gradient_penalty(crit, real, fake))
            if (next(calls) + 1) % p.n_critic == 0:  # a generator step after every n_critic critic steps
                descend(opt_g, -crit(gen(self.latents(len(real)))).mean())
            return loss

        run_steps(step, data, steps * p.n_critic, p.batch_size)

    def generate(self, modules, n, lam):
        return {"x": modules["generator"](self.latents(n, psi=lam))}
