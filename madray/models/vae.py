"""Variational autoencoder on MNIST (Kingma & Welling 2014), the image family of Gerstgrasser et al.

Encoder and decoder are MLPs (784 → hidden → latent); the decoder outputs Bernoulli pixel
probabilities. Loss: the negative ELBO, −E_q[log p(x|z)] + KL(q(z|x) ‖ N(0, I)) (Eq. 10 of
Kingma & Welling), per image. Sampling bias λ is the latent temperature: z ~ N(0, λI), and the
sample is the decoder's mean image (no pixel noise).

Metrics: the image families' FID and precision/recall/density/coverage, and `nelbo`, the negative ELBO
of the held-out real images in nats per image (one seeded latent draw per image): Gerstgrasser et al.'s
measure is the test loss on held-out real data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from madray.models.image_family import ImageFamily, ImageParams
from madray.torch_utils import descend, replicate, run_steps, seeded, seeds

PIXELS = 28 * 28


@dataclass(frozen=True)
class Params(ImageParams):
    family: ClassVar[str] = "vae"
    positive: ClassVar[tuple[str, ...]] = ImageParams.positive + ("latent", "hidden")

    latent: int = 16
    hidden: int = 400
    steps: int = 2000
    batch_size: int = 128


class Encoder(nn.Module):
    def __init__(self, hidden: int, latent: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 2 * latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.head(self.body(x)).chunk(2, dim=1)
        return mean, log_var


def decoder(hidden: int, latent: int) -> nn.Module:
    """z -> pixel logits (N, 28, 28)."""
    return nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS), nn.Unflatten(1, (28, 28)))


def negative_elbo(enc: Encoder, dec: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean over images of −ELBO, with one reparameterised latent draw per image."""
    mean, log_var = enc(x)
    z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
    reconstruction = F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").sum(dim=(1, 2))
    kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(dim=1)
    return (reconstruction + kl).mean()


class VAE(ImageFamily):
    name = "vae"
    Params = Params
    metric_names = (*ImageFamily.metric_names, "nelbo")

    def evaluate(self, state, rng):
        metrics = super().evaluate(state, rng)
        if "nelbo" in self.wanted:
            metrics["nelbo"] = self.heldout_nelbo(state, rng)
        return metrics

    def heldout_nelbo(self, state, rng) -> np.ndarray:
        """Per replicate: mean −ELBO (nats per image) of every held-out real image."""
        held = torch.from_numpy(self.shared.split.held_x.astype(np.float32) / 255.0).to(self.device)
        out = []
        for r, seed in enumerate(seeds(rng, self.replicates)):
            modules = self.modules(replicate(state, r))
            with seeded(seed, self.device), torch.no_grad():
                out.append(float(negative_elbo(modules["encoder"].eval(), modules["decoder"].eval(), held)))
        return np.asarray(out)

    def build(self):
        p = self.params
        return {"encoder": Encoder(p.hidden, p.latent), "decoder": decoder(p.hidden, p.latent)}

    def train(self, modules, data, from_scratch):
        enc, dec = modules["encoder"].train(), modules["decoder"].train()
        opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=self.params.lr)
        run_steps(lambda batch: descend(opt, negative_elbo(enc, dec, batch["x"])), data, self.train_steps(data), self.params.batch_size)

    def generate(self, modules, n, lam):
        z = lam**0.5 * torch.randn(n, self.params.latent, device=self.device)
        return {"x": torch.sigmoid(modules["decoder"](z))}
