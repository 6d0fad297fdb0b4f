"""madray.metrics.frechet against pytorch-fid's sqrtm formula and closed forms."""

import numpy as np
import pytest
import scipy.linalg

from madray.metrics.frechet import (
    frechet_distance,
    frechet_distance_features,
    gaussian_stats,
)


def pytorch_fid_formula(mu1, sigma1, mu2, sigma2):
    """pytorch-fid's calculate_frechet_distance: sqrtm of the non-symmetric product, real part."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def random_gaussian(rng, d, scale=1.0):
    """Well-conditioned: eigenvalues in [0.5, 2]·scale."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return rng.standard_normal(d), (q * rng.uniform(0.5, 2.0, d) * scale) @ q.T


@pytest.mark.parametrize("d", [1, 2, 10, 64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pytorch_fid_formula(d, seed):
    rng = np.random.default_rng(seed)
    g1, g2 = random_gaussian(rng, d), random_gaussian(rng, d, scale=3.0)
    expected = pytorch_fid_formula(*g1, *g2)
    assert frechet_distance(*g1, *g2) == pytest.approx(expected, rel=1e-6)


def test_features_equal_pytorch_fid_on_sample_statistics():
    rng = np.random.default_rng(3)
    gen = rng.standard_normal((500, 20)) @ rng.standard_normal((20, 20)) + 0.3
    real = rng.standard_normal((700, 20))
    expected = pytorch_fid_formula(gen.mean(0), np.cov(gen, rowvar=False), real.mean(0), np.cov(real, rowvar=False))
    assert frechet_distance_features(gen, real) == pytest.approx(expected, rel=1e-6)


def test_gaussian_stats_is_mean_and_unbiased_covariance():
    x = np.random.default_rng(4).standard_normal((50, 3))
    mu, sigma = gaussian_stats(x)
    assert np.array_equal(mu, x.mean(axis=0))
    assert np.allclose(sigma, (x - mu).T @ (x - mu) / 49, rtol=1e-13)
    with pytest.raises(ValueError, match="at least 2 samples"):
        gaussian_stats(x[:1])


def test_symmetric_and_zero_on_identical():
    rng = np.random.default_rng(5)
    g1, g2 = random_gaussian(rng, 30), random_gaussian(rng, 30)
    assert frechet_distance(*g1, *g2) == pytest.approx(frechet_distance(*g2, *g1), rel=1e-10)
    assert 0.0 <= frechet_distance(*g1, *g1) < 1e-10


def test_commuting_closed_form_with_singular_covariances():
    """Σ1 = Q diag(a) Qᵀ, Σ2 = Q diag(b) Qᵀ: FD = ‖Δμ‖² + Σ(√a − √b)², zeros in a and b allowed.

    The square root of a zero eigenvalue's rounding noise (~1e-16) costs ~1e-8 each: rel=1e-7."""
    rng = np.random.default_rng(6)
    d = 12
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a = rng.uniform(0.1, 3.0, d) * (rng.random(d) > 0.3)
    b = rng.uniform(0.1, 3.0, d) * (rng.random(d) > 0.3)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, (q * a) @ q.T, mu2, (q * b) @ q.T) == pytest.approx(expected, rel=1e-7)


def test_fewer_samples_than_dimensions_is_well_defined():
    """Rank-deficient sample covariances: tr(Σ1^½ Σ2 Σ1^½)^½ equals the nuclear norm of B1ᵀB2
    where Σi = Bi Biᵀ, Bi = centred samplesᵀ / √(n_i − 1): an independent route with no square root of Σ."""
    rng = np.random.default_rng(7)
    d = 40
    x1 = rng.standard_normal((15, d))
    x2 = rng.standard_normal((25, d)) * 2 + 1
    (mu1, s1), (mu2, s2) = gaussian_stats(x1), gaussian_stats(x2)
    assert np.linalg.matrix_rank(s1) == 14 and np.linalg.matrix_rank(s2) == 24
    b1 = (x1 - mu1).T / np.sqrt(14)
    b2 = (x2 - mu2).T / np.sqrt(24)
    nuclear = np.linalg.svd(b1.T @ b2, compute_uv=False).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * nuclear
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-7)
    assert frechet_distance_features(x1, x2) == pytest.approx(expected, rel=1e-7)


def test_batched_equals_looped():
    rng = np.random.default_rng(8)
    d, reps = 6, 5
    mus = rng.standard_normal((reps, d))
    sigmas = np.stack([random_gaussian(rng, d)[1] for _ in range(reps)])
    truth = (np.zeros(d), np.eye(d))
    batched = frechet_distance(mus, sigmas, *truth)
    assert isinstance(batched, np.ndarray) and batched.shape == (reps,)
    looped = [frechet_distance(m, s, *truth) for m, s in zip(mus, sigmas)]
    assert np.allclose(batched, looped, rtol=1e-12)
    assert np.allclose(frechet_distance(*truth, mus, sigmas), looped, rtol=1e-10)  # either side batched
    paired = frechet_distance(mus, sigmas, mus[::-1], sigmas[::-1])
    assert np.allclose(paired, [frechet_distance(mus[i], sigmas[i], mus[-1 - i], sigmas[-1 - i]) for i in range(reps)], rtol=1e-10)


def test_batch_shapes_broadcast():
    rng = np.random.default_rng(9)
    d = 4
    mus = rng.standard_normal((2, 1, d))
    sigmas = np.stack([random_gaussian(rng, d)[1] for _ in range(3)])[None]  # (1, 3, d, d)
    out = frechet_distance(mus, np.eye(d), np.zeros(d), sigmas)
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(frechet_distance(mus[1, 0], np.eye(d), np.zeros(d), sigmas[0, 2]), rel=1e-10)
    assert isinstance(frechet_distance(np.zeros(d), np.eye(d), np.ones(d), np.eye(d)), float)


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros(3), np.eye(4), np.zeros(3), np.eye(3)), r"first Gaussian covariance must have shape \(\.\.\., 3, 3\)"),
        ((np.zeros(3), np.eye(3), np.zeros(4), np.eye(4)), "different dimensions: 3 and 4"),
        ((np.zeros(3), np.full((3, 3), np.nan), np.zeros(3), np.eye(3)), "first Gaussian covariance contains 9 NaN or inf"),
        ((np.zeros(3), np.eye(3), np.array([0, np.inf, 0]), np.eye(3)), "second Gaussian mean contains 1 NaN or inf"),
        ((np.zeros((2, 3)), np.eye(3), np.zeros((3, 3)), np.eye(3)), r"batch shapes do not broadcast: mu1 \(2,\), sigma1 \(\), mu2 \(3,\)"),
    ],
)
def test_bad_gaussians(args, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(*args)


def test_bad_features():
    with pytest.raises(ValueError, match="generated features have 3 dimensions but real features have 2"):
        frechet_distance_features(np.ones((5, 3)), np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"real features contain 1 row with NaN or inf \(first at row 2\)"):
        frechet_distance_features(np.ones((5, 2)), np.array([[0, 1], [1, 0], [np.nan, 0], [1, 1]]))


def test_cholesky_route_equals_sqrtm_and_eigh_routes_to_1e_10():
    """The Cholesky factor (the fast path) against the sqrtm formula and the eigh factor (the fallback)."""
    rng = np.random.default_rng(9)
    g1, g2 = random_gaussian(rng, 200), random_gaussian(rng, 200, scale=3.0)
    w, v = np.linalg.eigh(g1[1])
    root = (v * np.sqrt(w)) @ v.T
    eigh_route = np.sum((g1[0] - g2[0]) ** 2) + np.trace(g1[1]) + np.trace(g2[1]) - 2 * np.sqrt(
        np.linalg.eigvalsh(root @ g2[1] @ root)).sum()
    fast = frechet_distance(*g1, *g2)
    assert fast == pytest.approx(pytorch_fid_formula(*g1, *g2), rel=1e-10)
    assert fast == pytest.approx(eigh_route, rel=1e-12)


def test_batch_with_one_singular_member_equals_looped():
    """Cholesky fails for the whole batch when one member is singular: the fallback must match member by member."""
    rng = np.random.default_rng(10)
    d = 8
    sigmas = np.stack([random_gaussian(rng, d)[1] for _ in range(3)])
    x = rng.standard_normal((4, d))
    sigmas[1] = np.cov(x, rowvar=False)  # rank 3
    mus = rng.standard_normal((3, d))
    other = random_gaussian(rng, d)
    stacked = np.broadcast_to(other[0], (3, d)), np.broadcast_to(other[1], (3, d, d))  # same batch: sigmas is factored
    batched = frechet_distance(mus, sigmas, *stacked)
    looped = [frechet_distance(mus[i], sigmas[i], *other) for i in range(3)]
    assert batched == pytest.approx(looped, rel=1e-9)
