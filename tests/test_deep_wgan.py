"""WGAN-GP: the gradient penalty against a closed form; truncation ψ < 1 lowers recall of a trained generator."""

import pytest
import torch
from deep_helpers import deep_config, mnist_shared

from madray.models.wgan_gp import WGANGP, gradient_penalty
from madray.seeding import Stream, rng

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = ⟨w, x⟩ has ‖∇D‖ = ‖w‖ everywhere, so the penalty is (‖w‖ − 1)² exactly."""
    w = torch.randn(28, 28, dtype=torch.float64)
    critic = lambda x: (x * w).sum(dim=(1, 2))  # noqa: E731
    real, fake = torch.rand(5, 28, 28, dtype=torch.float64), torch.rand(5, 28, 28, dtype=torch.float64)
    assert float(gradient_penalty(critic, real, fake)) == pytest.approx((float(w.norm()) - 1) ** 2, rel=1e-12)


def test_truncation_lowers_recall(madray_cache):
    params = {"channels": 16, "latent": 32, "steps": 200, "n_critic": 2, "lr": 1e-3, "n_eval": 500, "n_ref": 1000}
    family = WGANGP(deep_config("wgan_gp", madray_cache, params=params), mnist_shared(madray_cache))
    state = family.fit(family.sample_real(2000, rng(0, 1, Stream.REAL_INITIAL)), None, rng(0, 1, Stream.FIT))
    recall = {}
    for psi in (1.0, 0.3):
        images = family.sample(state, 500, psi, rng(0, 1, Stream.EVALUATE))["x"][0]
        assert images.shape == (500, 28, 28) and 0 <= images.min() and images.max() <= 1
        recall[psi] = family.shared.reference.prdc(family.features(images))["recall"]
    # measured 0.43 (ψ = 1) and 0.05 (ψ = 0.3). Recall is a fraction of 1,000 real points, so its
    # standard error is at most 0.016: the gap asked for, 0.15, is more than 6 of them (for the difference)
    assert recall[0.3] < recall[1.0] - 0.15, recall
