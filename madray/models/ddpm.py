"""Class-conditional DDPM on MNIST with classifier-free guidance (MAD §5; Ho et al. 2020; Ho & Salimans 2022).

Training: L_simple (madray/models/diffusion.py) with T = `T` timesteps (MAD: 500); the label is
replaced by "no label" with probability `p_uncond`, so one network gives both the conditional
and the unconditional ε. Sampling bias λ is the guidance weight w = 1/λ − 1 (λ = 1: w = 0, the
plain conditional model). Labels of generated images are balanced (0, 1, …, 9, 0, …) and are
kept in the batch, so the next generation trains on labelled synthetic data.

The kept weights are an exponential moving average (`ema`) of the training iterates.
Sampler: "ddim" (η = `eta`, `sample_steps` steps; fast) or "ancestral" (Ho et al.'s Algorithm 2,
all T steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from madray.config import require
from madray.models import diffusion
from madray.models.image_family import CLASSES, ImageFamily, ImageParams
from madray.models.unet import UNet
from madray.torch_utils import EMA, descend, run_steps

SAMPLERS = ("ddim", "ancestral")


@dataclass(frozen=True)
class Params(ImageParams):
    family: ClassVar[str] = "ddpm"
    positive: ClassVar[tuple[str, ...]] = ImageParams.positive + ("channels", "T", "sample_steps")

    channels: int = 16  # U-Net base width
    T: int = 500  # diffusion timesteps (MAD: 500)
    p_uncond: float = 0.1  # label dropout for classifier-free guidance
    sampler: str = "ddim"
    sample_steps: int = 20  # DDIM steps (the ancestral sampler always takes T)
    eta: float = 0.0  # DDIM stochasticity: 0 deterministic, 1 ancestral-like
    ema: float = 0.995  # decay of the weight average that is kept and sampled from; 0 = the last weights
    steps: int = 800
    batch_size: int = 64
    lr: float = 2e-3
    n_eval: int = 500

    def __post_init__(self):
        super().__post_init__()
        require(0 <= self.p_uncond < 1, "params.ddpm.p_uncond", self.p_uncond, "must be in [0, 1)")
        require(self.sampler in SAMPLERS, "params.ddpm.sampler", self.sampler, f"one of {', '.join(SAMPLERS)}")
        require(self.sample_steps <= self.T, "params.ddpm.sample_steps", self.sample_steps, f"at most T = {self.T}")
        require(0 <= self.eta <= 1, "params.ddpm.eta", self.eta, "must be in [0, 1]")
        require(0 <= self.ema < 1, "params.ddpm.ema", self.ema, "must be in [0, 1)")


class DDPM(ImageFamily):
    name = "ddpm"
    Params = Params
    conditional = True

    def __init__(self, cfg, shared=None):
        super().__init__(cfg, shared)
        self.abar = diffusion.alpha_bars(self.params.T).to(self.device)

    def build(self):
        return {"unet": UNet(self.params.channels, CLASSES)}

    def train(self, modules, data, from_scratch):
        unet, p = modules["unet"].train(), self.params
        opt = torch.optim.Adam(unet.parameters(), lr=p.lr)
        ema = EMA(unet, p.ema)

        def step(batch):
            y = batch["y"].masked_fill(torch.rand(len(batch["y"]), device=self.device) < p.p_uncond, CLASSES)
            loss = descend(opt, diffusion.denoising_loss(unet, 2 * batch["x"] - 1, y, self.abar))
            ema.update(unet)
            return loss

        run_steps(step, data, self.train_steps(data), p.batch_size)
        ema.copy_to(unet)  # the state (and a warm start) is the averaged network

    def generate(self, modules, n, lam):
        p = self.params
        y = self.labels_for(n)
        eps = diffusion.guided(modules["unet"], y, torch.full_like(y, CLASSES), diffusion.guidance_weight(lam))
        steps, eta = (p.sample_steps, p.eta) if p.sampler == "ddim" else (p.T, 1.0)
        x = diffusion.ddim_sample(eps, torch.randn(n, 28, 28, device=self.device), self.abar, steps, eta)
        return {"x": (x + 1) / 2, "y": y}
