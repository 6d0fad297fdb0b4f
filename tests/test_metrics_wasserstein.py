"""madray.metrics.wasserstein against POT's exact solver, scipy and closed forms."""

import numpy as np
import ot
import pytest
import scipy.stats

from madray.metrics.frechet import frechet_distance
from madray.metrics.wasserstein import w2_gaussians, wasserstein_samples


def pot_exact(x, y, p):
    """W_p by POT's network simplex on the full cost matrix, uniform weights."""
    x, y = np.reshape(x, (len(x), -1)), np.reshape(y, (len(y), -1))
    cost = ot.dist(x, y, metric="euclidean") ** p
    return ot.emd2(ot.unif(len(x)), ot.unif(len(y)), cost, numItermax=10**7) ** (1.0 / p)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_1d_equals_pot(p):
    rng = np.random.default_rng(p)
    u, v = rng.standard_normal(37), rng.exponential(2.0, 51)
    assert wasserstein_samples(u, v, p=p) == pytest.approx(pot_exact(u, v, p), rel=1e-9)
    assert wasserstein_samples(u[:, None], v[:, None], p=p) == pytest.approx(pot_exact(u, v, p), rel=1e-9)


def test_1d_p1_equals_scipy_and_ignores_exact_max():
    rng = np.random.default_rng(4)
    u, v = rng.standard_normal(5000), rng.standard_normal(4000) + 0.3
    assert wasserstein_samples(u, v, p=1, exact_max=10) == pytest.approx(scipy.stats.wasserstein_distance(u, v), rel=1e-12)
    assert wasserstein_samples(u, v, p=2, exact_max=10) == pytest.approx(ot.wasserstein_1d(u, v, p=2) ** 0.5, rel=1e-9)


@pytest.mark.parametrize("m", [220, 300])  # 300 = equal sizes: the assignment-solver path
@pytest.mark.parametrize("p", [1, 2])
def test_2d_equals_pot(p, m):
    rng = np.random.default_rng(5 + p)
    x = rng.standard_normal((300, 2))
    y = rng.standard_normal((m, 2)) * [1.0, 2.0] + 0.5
    assert wasserstein_samples(x, y, p=p) == pytest.approx(pot_exact(x, y, p), rel=1e-9)


def test_translation_is_exact():
    """y = x + δ: the optimal plan is the identity for every p, so W_p = ‖δ‖ (also scipy's W1 in 1-D)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((200, 2))
    delta = np.array([0.75, -1.0])
    assert wasserstein_samples(x, x + delta) == pytest.approx(1.25, rel=1e-12)
    u = rng.standard_normal(500)
    assert wasserstein_samples(u, u + 0.5, p=2) == pytest.approx(0.5, rel=1e-12)
    assert scipy.stats.wasserstein_distance(u, u + 0.5) == pytest.approx(0.5, rel=1e-12)


def test_identical_and_duplicated_samples_are_zero():
    x = np.random.default_rng(8).standard_normal((100, 3))
    assert wasserstein_samples(x, x) == 0.0
    assert wasserstein_samples(x, np.vstack([x, x])) == 0.0


def test_subsampled_estimate_is_seeded_and_close():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((900, 2)), rng.standard_normal((800, 2)) + [1.0, 0.0]
    exact = wasserstein_samples(x, y, exact_max=900)
    approx = wasserstein_samples(x, y, exact_max=300, seed=1)
    assert approx == wasserstein_samples(x, y, exact_max=300, seed=1)
    assert approx != wasserstein_samples(x, y, exact_max=300, seed=2)
    assert approx == pytest.approx(exact, rel=0.1)


def test_w2_gaussians_equals_pot_bures():
    rng = np.random.default_rng(10)
    d = 5
    mus = rng.standard_normal((3, d))
    covs = np.stack([(a @ a.T) / d + 0.1 * np.eye(d) for a in rng.standard_normal((3, d, d))])
    for i, j in [(0, 1), (1, 2), (2, 0)]:
        expected = ot.gaussian.bures_wasserstein_distance(mus[i], mus[j], covs[i], covs[j])
        assert w2_gaussians(mus[i], covs[i], mus[j], covs[j]) == pytest.approx(float(expected), rel=1e-8)


def test_w2_gaussians_1d_closed_form_and_batched():
    """In 1-D, W2(N(m1, s1²), N(m2, s2²))² = (m1 − m2)² + (s1 − s2)² (quantile coupling)."""
    m1, s1, m2, s2 = 0.3, 1.5, -1.0, 0.5
    assert w2_gaussians([m1], [[s1**2]], [m2], [[s2**2]]) == pytest.approx(np.hypot(m1 - m2, s1 - s2), rel=1e-12)
    rng = np.random.default_rng(11)
    mus = rng.standard_normal((4, 3))
    covs = np.stack([np.diag(rng.uniform(0.5, 2, 3)) for _ in range(4)])
    batched = w2_gaussians(mus, covs, np.zeros(3), np.eye(3))
    assert batched.shape == (4,)
    assert np.allclose(batched**2, frechet_distance(mus, covs, np.zeros(3), np.eye(3)), rtol=1e-12)
    diag_closed = np.sqrt(np.sum(mus**2, axis=1) + np.sum((np.sqrt(np.diagonal(covs, axis1=1, axis2=2)) - 1) ** 2, axis=1))
    assert np.allclose(batched, diag_closed, rtol=1e-10)


@pytest.mark.parametrize(
    "x, y, kwargs, message",
    [
        (np.ones((5, 2)), np.ones((5, 3)), {}, "first samples have 2 dimensions but second samples have 3"),
        (np.ones((5, 2)), np.ones((5, 2)), {"p": 0}, "p must be an integer >= 1, got 0"),
        (np.ones((5, 2)), np.ones((5, 2)), {"exact_max": 0}, "exact_max must be an integer >= 1"),
        (np.ones((5, 2)), np.array([[1, 2], [np.nan, 0]]), {}, r"second samples contain 1 row with NaN or inf \(first at row 1\)"),
        (np.ones((0, 2)), np.ones((5, 2)), {}, "first samples are empty"),
        (np.ones((2, 2, 2)), np.ones((5, 2)), {}, r"first samples must be a 1-D or 2-D array, got shape \(2, 2, 2\)"),
    ],
)
def test_bad_input(x, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        wasserstein_samples(x, y, **kwargs)
