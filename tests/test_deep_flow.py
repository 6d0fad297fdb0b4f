"""RealNVP on Rosenbrock: exact change of variables, beats a Gaussian fit, λ < 1 shrinks samples."""

import numpy as np
import pytest
import scipy.stats
import torch
from deep_helpers import deep_config

from madray.data.rosenbrock import sample_rosenbrock
from madray.metrics.wasserstein import wasserstein_samples
from madray.models.flow import Flow
from madray.models.gaussian import fit_gaussian, sample_gaussian
from madray.models.realnvp import RealNVP
from madray.seeding import Stream, rng

pytestmark = pytest.mark.slow  # everyday runs: pytest -m "not slow"


def test_realnvp_inverse_and_log_density_match_brute_force():
    torch.manual_seed(0)
    flow = RealNVP(2, layers=4, hidden=16).double()
    for p in flow.parameters():  # leave the identity start: random weights everywhere
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(5, 2, dtype=torch.float64)
    z, _ = flow.to_latent(x)
    torch.testing.assert_close(flow.from_latent(z), x, rtol=1e-10, atol=1e-10)
    # log q(x) = log N(f(x)) + log|det J_f(x)|, with the Jacobian from autograd
    for xi, lp in zip(x, flow.log_prob(x)):
        jac = torch.autograd.functional.jacobian(lambda v: flow.to_latent(v[None])[0][0], xi)
        zi = flow.to_latent(xi[None])[0][0]
        want = scipy.stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(zi.detach().numpy()) + np.log(abs(np.linalg.det(jac.numpy())))
        assert float(lp.detach()) == pytest.approx(want, rel=1e-9)


def test_untrained_flow_is_the_diagonal_gaussian_of_the_data():
    """Couplings start as the identity, so after the data-dependent start the density is N(mean, diag(std²))."""
    x = sample_rosenbrock((500,), np.random.default_rng(0))
    flow = RealNVP(2, layers=8, hidden=64).double()
    flow.init_from_data(torch.from_numpy(x))
    want = scipy.stats.multivariate_normal(x.mean(0), np.diag(x.std(0, ddof=1) ** 2)).logpdf(x)
    np.testing.assert_allclose(flow.log_prob(torch.from_numpy(x)).detach().numpy(), want, rtol=1e-9)


@pytest.fixture(scope="module")
def trained():
    cfg = deep_config("flow", None, replicates=1, n_ini=2000, n_s=2000, params={"steps": 600, "n_eval": 500, "n_ref": 1000})
    family = Flow(cfg)
    state = family.fit(family.sample_real(2000, rng(0, 1, Stream.REAL_INITIAL)), None, rng(0, 1, Stream.FIT))
    return family, state


def test_flow_beats_a_gaussian_fit_in_wasserstein_distance(trained):
    family, state = trained
    reference = family.shared.points  # 1,000 exact Rosenbrock samples
    draws = 4
    flow_w = [wasserstein_samples(family.sample(state, 1000, 1.0, rng(s, 9, Stream.SYNTHETIC))["x"][0], reference) for s in range(draws)]
    mean, cov = fit_gaussian(sample_rosenbrock((1, 2000), np.random.default_rng(1)))
    gauss_w = [wasserstein_samples(sample_gaussian(mean, cov, 1000, np.random.default_rng(s))[0], reference) for s in range(draws)]
    # One W2 estimate at 1,000 points: exact samples 0.32 ± 0.04, a Gaussian fit 0.83 ± 0.03, this flow
    # 0.53 ± 0.07 (other seeds' flows: 0.42, 0.31). The difference of the two 4-draw means has a
    # standard error of about 0.04: the gap asked for, 0.1, is 2.5 of them; the measured gap is 0.3.
    assert np.mean(flow_w) < np.mean(gauss_w) - 0.1, (flow_w, gauss_w)
    metrics = family.evaluate(state, rng(0, 1, Stream.EVALUATE))
    assert set(metrics) == set(Flow.metric_names)
    assert 0 <= metrics["kl"][0] < 0.1 and metrics["recall"][0] > 0.9 and metrics["precision"][0] > 0.9


def test_lambda_below_one_lowers_sample_variance(trained):
    family, state = trained
    n = 4000
    total_var = {lam: family.sample(state, n, lam, rng(3, 1, Stream.SYNTHETIC))["x"][0].var(axis=0, ddof=1).sum() for lam in (1.0, 0.5)}
    # Var x1 + Var x2 = 3.5 for the truth; its estimate from 4,000 exact samples has sd 0.12 (x2 is
    # heavy-tailed). Flows fitted with three seeds gave 4.0, 3.5 and 3.2 (tails are fitted least well).
    assert abs(total_var[1.0] - 3.5) < 1.0
    assert total_var[0.5] < total_var[1.0] - 1.0, total_var  # measured 1.2-1.4 at λ = 0.5
