"""Diffusion math against Ho et al.'s closed forms; the conditional DDPM family's λ, shapes and training."""

import numpy as np
import pytest
import torch
from deep_helpers import deep_config, mnist_shared

from madray.features.lenet import lenet_accuracy
from madray.models import diffusion
from madray.models.ddpm import DDPM
from madray.seeding import Stream, rng
from madray.torch_utils import EMA, module_state, seeded, stack_states

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"

T = 500


def test_lambda_one_is_no_guidance_and_guidance_formula():
    assert diffusion.guidance_weight(1.0) == 0.0
    assert diffusion.guidance_weight(0.5) == pytest.approx(1.0) and diffusion.guidance_weight(0.25) == pytest.approx(3.0)
    calls = []

    def model(x, t, y):
        calls.append(y.clone())
        return x * 0 + y[:, None].float()  # "ε" = the label, to see which labels were used

    x, t = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)
    cond, null = torch.tensor([1, 2, 3, 4]), torch.full((4,), 10)
    torch.testing.assert_close(diffusion.guided(model, cond, null, 0.0)(x, t), cond[:, None].float().expand(4, 3))
    assert len(calls) == 1  # w = 0: the unconditional pass is skipped
    w = 2.0
    torch.testing.assert_close(diffusion.guided(model, cond, null, w)(x, t), ((1 + w) * cond - w * 10)[:, None].float().expand(4, 3))


def test_schedule_and_forward_process_closed_forms():
    betas, abar = diffusion.linear_betas(T), diffusion.alpha_bars(T)
    np.testing.assert_allclose(betas[[0, -1]].numpy(), [2e-4, 0.04])
    np.testing.assert_allclose(abar.numpy(), np.cumprod(1 - np.linspace(2e-4, 0.04, T)), rtol=1e-12)
    assert abar[-1] < 1e-4  # x_T is (almost) pure noise
    x0, noise, t = torch.rand(3, 5), torch.randn(3, 5), torch.tensor([0, 100, 499])
    want = abar[t].float().sqrt()[:, None] * x0 + (1 - abar[t].float()).sqrt()[:, None] * noise
    torch.testing.assert_close(diffusion.q_sample(x0, t, noise, abar), want)
    assert diffusion.sampling_timesteps(T, T) == list(range(T - 1, -1, -1))
    ts = diffusion.sampling_timesteps(T, 25)
    assert len(ts) == 25 and ts[0] == T - 1 and ts[-1] == 0


def test_ddim_step_eta_one_is_the_ddpm_posterior_eta_zero_recovers_x0():
    betas, abar = diffusion.linear_betas(T).double(), diffusion.alpha_bars(T).double()
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(6, 7, generator=g, dtype=torch.float64) * 1.8 - 0.9  # inside [−1, 1]: clipping is a no-op
    e = torch.randn(6, 7, generator=g, dtype=torch.float64)
    for t in (1, 37, 250, 499):
        a_t, a_prev = float(abar[t]), float(abar[t - 1])
        x_t = a_t**0.5 * x0 + (1 - a_t) ** 0.5 * e
        mean, sigma = diffusion.ddim_step(x_t, e, a_t, a_prev, eta=1.0)
        # Ho et al. Eq. 7: posterior q(x_{t-1} | x_t, x_0)
        beta = float(betas[t])
        mu = a_prev**0.5 * beta / (1 - a_t) * x0 + (1 - beta) ** 0.5 * (1 - a_prev) / (1 - a_t) * x_t
        torch.testing.assert_close(mean, mu, rtol=1e-9, atol=1e-12)
        assert sigma**2 == pytest.approx((1 - a_prev) / (1 - a_t) * beta, rel=1e-9)
        x_last, sigma0 = diffusion.ddim_step(x_t, e, a_t, 1.0, eta=0.0)  # jump straight to t = 0
        torch.testing.assert_close(x_last, x0, rtol=1e-9, atol=1e-12)
        assert sigma0 == 0


def test_ema_is_the_warmed_up_weighted_sum_of_iterates():
    net = torch.nn.Linear(3, 1, bias=False).double()
    w0 = net.weight.detach().clone()
    ema = EMA(net, decay=0.9)
    iterates = [torch.full((1, 3), float(v), dtype=torch.float64) for v in (1, -2, 5, 0.5, 3, 7, -1, 2, 4, 6, 8, 1)]
    for w in iterates:
        net.weight.data.copy_(w)
        ema.update(net)
    d = np.minimum(0.9, (1 + np.arange(1, 13)) / (10 + np.arange(1, 13)))
    # shadow = (Π d) w0 + Σ_j (1 − d_j) (Π_{i > j} d_i) w_j
    keep_after = [np.prod(d[j + 1 :]) for j in range(12)]
    want = np.prod(d) * w0 + sum((1 - d[j]) * keep_after[j] * iterates[j] for j in range(12))
    torch.testing.assert_close(ema.shadow["weight"], want, rtol=1e-12, atol=1e-12)
    off = EMA(net, 0.0)  # decay 0: the average is the last iterate
    net.weight.data.fill_(9.0)
    off.update(net)
    assert torch.equal(off.shadow["weight"], net.weight.data)


def untrained_state(family):
    with seeded(0, family.device):
        return stack_states([module_state(family.modules()) for _ in range(family.replicates)])


def test_images_shape_range_labels_and_ancestral_sampler(madray_cache):
    shared = mnist_shared(madray_cache, n_ref=50)
    family = DDPM(deep_config("ddpm", madray_cache, replicates=2, params={"channels": 8, "sample_steps": 5, "n_ref": 50}), shared)
    state = untrained_state(family)
    out = family.sample(state, 30, 0.5, rng(0, 1, Stream.SYNTHETIC))  # λ = 0.5: w = 1, guided
    assert out["x"].shape == (2, 30, 28, 28) and out["x"].dtype == np.float32
    assert out["x"].min() >= 0 and out["x"].max() <= 1 and out["x"].std() > 0.05
    np.testing.assert_array_equal(out["y"], np.broadcast_to(np.arange(30) % 10, (2, 30)))
    ancestral = DDPM(deep_config("ddpm", madray_cache, params={"channels": 8, "formulation": "ho", "sampler": "ancestral", "T": 50, "n_ref": 50}), shared)
    a = ancestral.sample(untrained_state(ancestral), 4, 1.0, rng(0, 1, Stream.SYNTHETIC))["x"]
    assert a.shape == (1, 4, 28, 28) and 0 <= a.min() and a.max() <= 1


def test_short_training_lowers_fid(madray_cache):
    params = {"channels": 8, "steps": 100, "batch_size": 32, "sample_steps": 8, "n_eval": 150, "n_ref": 1000}
    family = DDPM(deep_config("ddpm", madray_cache, params=params), mnist_shared(madray_cache))
    data = family.sample_real(1000, rng(0, 1, Stream.REAL_INITIAL))
    assert data["x"].shape == (1, 1000, 28, 28) and data["y"].shape == (1, 1000)
    trained = family.fit(data, None, rng(0, 1, Stream.FIT))
    fid = {name: family.evaluate(state, rng(0, 1, Stream.EVALUATE))["fid"][0]
           for name, state in (("untrained", untrained_state(family)), ("trained", trained))}
    # measured: 847 untrained (noise), 413 after 100 steps; FID of 150 images varies by ~10-20 between draws
    assert fid["trained"] < 0.7 * fid["untrained"], fid


def held_out_loss(family, state, data, seed=5):
    """The family's training loss of replicate 0 on `data`, with fixed noise (common random numbers)."""
    unet = family.modules({k: v[0] for k, v in state.items()})["unet"].eval()
    x = 2 * torch.from_numpy(data["x"][0]) - 1
    y = torch.from_numpy(data["y"][0]).long()
    with torch.no_grad(), seeded(seed, family.device):
        return float(family.loss(unet, x, y))


@pytest.mark.parametrize("formulation, sampler", [("edm", "heun"), ("ho", "ddim")])
def test_training_lowers_the_diffusion_loss_on_held_out_digits(madray_cache, formulation, sampler):
    params = {"channels": 8, "steps": 150, "batch_size": 32, "formulation": formulation, "sampler": sampler,
              "n_eval": 20, "n_ref": 50}
    family = DDPM(deep_config("ddpm", madray_cache, params=params), mnist_shared(madray_cache, n_ref=50))
    train = family.sample_real(1000, rng(0, 1, Stream.REAL_INITIAL))
    held = family.sample_real(500, rng(1, 1, Stream.REAL_INITIAL))  # other draws of the pool: mostly unseen digits
    before = held_out_loss(family, untrained_state(family), held)
    after = held_out_loss(family, family.fit(train, None, rng(0, 1, Stream.FIT)), held)
    assert after < 0.6 * before, (before, after)


def label_accuracy(family, state, lam, n=400):
    out = family.sample(state, n, lam, rng(0, 2, Stream.SYNTHETIC))
    return lenet_accuracy(family.lenet, out["x"][0], out["y"][0])


def test_guidance_moves_samples_toward_their_label(madray_cache):
    # a weakly trained conditional model: w > 0 (λ < 1) should make the LeNet read the requested digit more often
    params = {"channels": 8, "steps": 400, "batch_size": 32, "sample_steps": 10, "n_eval": 20, "n_ref": 50}
    family = DDPM(deep_config("ddpm", madray_cache, params=params), mnist_shared(madray_cache, n_ref=50))
    state = family.fit(family.sample_real(2000, rng(0, 1, Stream.REAL_INITIAL)), None, rng(0, 1, Stream.FIT))
    acc = {lam: label_accuracy(family, state, lam) for lam in (1.0, 0.25, 0.1)}
    se = (0.25 / 400) ** 0.5 * 2**0.5  # standard error of a difference of two accuracies of 400 images (at most)
    assert acc[0.1] > acc[0.25] > acc[1.0] and acc[0.1] > acc[1.0] + 4 * se, acc
