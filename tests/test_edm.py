"""EDM (Karras et al. 2022) preconditioning, loss and Heun sampler against closed forms for Gaussian data.

For data y ~ N(0, s² I) the ideal denoiser is D*(x; σ) = s²/(σ² + s²) x, and the probability-flow
ODE dx/dσ = (x − D*(x; σ))/σ maps x(σ_max) to x(σ) = x(σ_max) √((σ² + s²)/(σ_max² + s²)).
"""

import numpy as np
import pytest
import torch

from madray.models import edm

SD = edm.SIGMA_DATA


def zero_net(x, noise_label, cond):
    return torch.zeros_like(x)


def test_preconditioning_matches_table_1():
    x = torch.randn(3, 4, 4, dtype=torch.float64)
    sigma = torch.tensor([0.01, 0.5, 30.0], dtype=torch.float64)
    seen = {}

    def net(x_in, noise_label, cond):
        seen.update(x_in=x_in, noise_label=noise_label)
        return torch.ones_like(x_in)

    d = edm.denoise(net, x, sigma, torch.zeros(3, dtype=torch.long))
    s = sigma.view(-1, 1, 1)
    c_skip, c_out, c_in = SD**2 / (s**2 + SD**2), s * SD / (s**2 + SD**2).sqrt(), 1 / (s**2 + SD**2).sqrt()
    torch.testing.assert_close(d, c_skip * x + c_out)
    torch.testing.assert_close(seen["x_in"], c_in * x)
    torch.testing.assert_close(seen["noise_label"], edm.NOISE_LABEL_SCALE * sigma.log() / 4)


def test_zero_network_is_the_ideal_denoiser_of_sigma_data_gaussians_and_its_weighted_loss_is_one():
    # with F = 0, D = c_skip x, the ideal denoiser for y ~ N(0, σ_d²); Table 1's weighting makes every
    # σ's expected loss σ²σ_d²/(σ² + σ_d²) · (σ² + σ_d²)/(σσ_d)² = 1 exactly
    torch.manual_seed(0)
    y = SD * torch.randn(20_000, 8, dtype=torch.float64)
    values = torch.stack([edm.loss(zero_net, y, torch.zeros(len(y), dtype=torch.long)) for _ in range(5)])
    # each per-element term is (weighted) chi-square with 1 d.o.f.: variance 2, over 8·20,000·5 terms
    se = (2 / (8 * 20_000 * 5)) ** 0.5
    assert float(values.mean()) == pytest.approx(1.0, abs=4 * se)


def test_training_sigmas_are_log_normal():
    torch.manual_seed(1)
    log_sigma = edm.training_sigmas(40_000, torch.device("cpu")).log().numpy()
    se_mean, se_std = 1.2 / 200, 1.2 / (2 * 40_000) ** 0.5
    assert log_sigma.mean() == pytest.approx(-1.2, abs=4 * se_mean)
    assert log_sigma.std() == pytest.approx(1.2, abs=4 * se_std)


def test_sigma_steps_follow_eq_5():
    sigmas = edm.sigma_steps(18).numpy()
    i = np.arange(18)
    want = (80 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    np.testing.assert_allclose(sigmas[:-1], want, rtol=1e-12)
    assert sigmas[-1] == 0 and sigmas[0] == pytest.approx(80) and sigmas[-2] == pytest.approx(0.002)
    assert np.all(np.diff(sigmas) < 0)


@pytest.mark.parametrize("s", [0.1, 0.2])
def test_heun_solves_the_probability_flow_ode_of_gaussian_data_to_second_order(s):
    def ideal(x, sigma):
        return s**2 / (sigma.view(-1, 1) ** 2 + s**2) * x

    noise = torch.randn(2000, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    want = noise * 80 * s / (80**2 + s**2) ** 0.5  # x(0) from x(σ_max) = σ_max · noise
    assert float(want.abs().max()) < 1  # the final clip to [−1, 1] does not act
    errors = [float(((edm.heun_sample(ideal, noise, steps=n) - want) / want).abs().max()) for n in (40, 80, 160)]
    assert errors[-1] < 1e-3
    # Heun is a 2nd-order method: doubling the steps divides the error by about 4 (measured 4.4-5.0)
    assert 3 < errors[0] / errors[1] < 6 and 3 < errors[1] / errors[2] < 6, errors


def test_guidance_combines_denoisers_and_w_zero_skips_the_unconditional_pass():
    calls = []

    def net(x, noise_label, cond):
        calls.append(cond.clone())
        return x * 0 + cond[:, None].to(x.dtype)

    x, sigma = torch.zeros(4, 3), torch.full((4,), 2.0)
    cond, null = torch.tensor([1, 2, 3, 4]), torch.full((4,), 10)
    c_out = 2.0 * SD / (4.0 + SD**2) ** 0.5
    torch.testing.assert_close(edm.guided(net, cond, null, 0.0)(x, sigma), c_out * cond[:, None].float().expand(4, 3))
    assert len(calls) == 1
    w = 1.5
    want = c_out * ((1 + w) * cond - w * 10)[:, None].float().expand(4, 3)
    torch.testing.assert_close(edm.guided(net, cond, null, w)(x, sigma), want)
