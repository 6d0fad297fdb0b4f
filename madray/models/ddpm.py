"""Class-conditional diffusion model on MNIST with classifier-free guidance (MAD §5; Ho & Salimans 2022).

MAD §5: "we train a conditional DDPM ... on MNIST" and sample with classifier-free guidance; its
sampling bias is λ = 1/(1 + w) for guidance weight w, so w = 1/λ − 1 (λ = 1: w = 0, the plain
conditional model). The label is replaced by "no label" with probability `p_uncond`, so one network
gives both the conditional and the unconditional prediction. Labels of generated images are
balanced (0, 1, …, 9, 0, …) and kept in the batch, so the next generation trains on labelled
synthetic data.

Two formulations of the same model class (docs/deep-models.md has the measurements behind the default):
  - "edm" (default): Karras et al. 2022's preconditioning, loss weighting and log-normal noise
    levels, sampled with their deterministic Heun sampler in `sample_steps` steps
    (madray/models/edm.py). On 2 CPU cores it reaches a far better generation 1 per minute of
    training than Ho et al.'s parameterisation, which MAD's conclusions need (docs/deviations.md).
  - "ho": Ho et al. 2020's ε-prediction with L_simple over T = `T` timesteps (MAD: 500), sampled
    with DDIM ("ddim", η = `eta`, `sample_steps` steps) or Ho et al.'s Algorithm 2 ("ancestral",
    all T steps) (madray/models/diffusion.py).
Both use Adam with a linear warm-up and cosine decay of the learning rate, and keep (and sample
from) an exponential moving average of the weights (`ema`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from madray.config import require
from madray.errors import brief
from madray.models import diffusion, edm
from madray.models.image_family import CLASSES, ImageFamily, ImageParams
from madray.models.unet import UNet
from madray.torch_utils import EMA, PRECISIONS, autocast, descend, learning_rate_factor, run_steps

SAMPLERS = {"edm": ("heun",), "ho": ("ddim", "ancestral")}


@dataclass(frozen=True)
class Params(ImageParams):
    family: ClassVar[str] = "ddpm"
    positive: ClassVar[tuple[str, ...]] = ImageParams.positive + ("channels", "T", "sample_steps")

    formulation: str = "edm"  # "edm" (Karras et al. 2022) or "ho" (Ho et al. 2020, MAD's)
    channels: int = 16  # U-Net base width
    T: int = 500  # "ho": diffusion timesteps (MAD: 500)
    p_uncond: float = 0.1  # label dropout for classifier-free guidance
    sampler: str = "heun"  # "edm": heun; "ho": ddim or ancestral
    sample_steps: int = 12  # Heun steps (2N − 1 network calls) or DDIM steps (the ancestral sampler always takes T)
    eta: float = 0.0  # "ho" DDIM stochasticity: 0 deterministic, 1 ancestral-like
    precision: str = "auto"  # network passes in "bf16", "fp32", or "auto": bf16 where the hardware runs it natively
    ema: float = 0.995  # decay of the weight average that is kept and sampled from; 0 = the last weights
    steps: int = 2250
    batch_size: int = 64
    lr: float = 2e-3
    n_eval: int = 500

    def __post_init__(self):
        super().__post_init__()
        require(0 <= self.p_uncond < 1, "params.ddpm.p_uncond", self.p_uncond, "must be in [0, 1)")
        require(self.formulation in SAMPLERS, "params.ddpm.formulation", self.formulation, f"one of {', '.join(SAMPLERS)}")
        samplers = SAMPLERS[self.formulation]
        require(self.sampler in samplers, "params.ddpm.sampler", self.sampler,
                f"with formulation {brief(self.formulation)} one of {', '.join(samplers)}")
        require(self.formulation != "ho" or self.sample_steps <= self.T, "params.ddpm.sample_steps", self.sample_steps,
                f"at most T = {self.T} with formulation 'ho'")
        require(self.precision in PRECISIONS, "params.ddpm.precision", self.precision, f"one of {', '.join(PRECISIONS)}")
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

    def loss(self, unet: UNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.params.formulation == "edm":
            return edm.loss(unet, x, y)
        return diffusion.denoising_loss(unet, x, y, self.abar)

    def train(self, modules, data, from_scratch):
        unet, p = modules["unet"].train(), self.params
        opt = torch.optim.Adam(unet.parameters(), lr=p.lr)
        steps = self.train_steps(data)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: learning_rate_factor(t, steps, warm_up=from_scratch))
        ema = EMA(unet, p.ema)

        def step(batch):
            y = batch["y"].masked_fill(torch.rand(len(batch["y"]), device=self.device) < p.p_uncond, CLASSES)
            with autocast(self.device, p.precision):
                loss = self.loss(unet, 2 * batch["x"] - 1, y)
            loss = descend(opt, loss)
            schedule.step()
            ema.update(unet)
            return loss

        run_steps(step, data, steps, p.batch_size)
        ema.copy_to(unet)  # the state (and a warm start) is the averaged network

    def generate(self, modules, n, lam):
        p, unet = self.params, modules["unet"]
        y = self.labels_for(n)
        null, w = torch.full_like(y, CLASSES), diffusion.guidance_weight(lam)
        noise = torch.randn(n, 28, 28, device=self.device)
        with autocast(self.device, p.precision):
            if p.formulation == "edm":
                x = edm.heun_sample(edm.guided(unet, y, null, w), noise, p.sample_steps)
            else:
                steps, eta = (p.sample_steps, p.eta) if p.sampler == "ddim" else (p.T, 1.0)
                x = diffusion.ddim_sample(diffusion.guided(unet, y, null, w), noise, self.abar, steps, eta)
        return {"x": (x.float() + 1) / 2, "y": y}
