"""The exact Rosenbrock sampler and log-density against closed forms and scipy."""

import math

import numpy as np
import scipy.integrate
import scipy.stats

from madray.data.rosenbrock import rosenbrock_log_density, sample_rosenbrock


def test_log_density_is_normalised_and_matches_the_factorisation():
    # ∫∫ p = 1: x1 within ±9 sd, x2 within ±9 sd of x1² (sd 1/√2)
    total, _ = scipy.integrate.dblquad(
        lambda x2, x1: math.exp(rosenbrock_log_density(np.array([x1, x2]))),
        -9, 9, lambda x1: x1**2 - 6.5, lambda x1: x1**2 + 6.5,
    )
    assert abs(total - 1) < 1e-6
    x = np.random.default_rng(0).normal(size=(50, 2)) * 2
    want = scipy.stats.norm.logpdf(x[:, 0]) + scipy.stats.norm.logpdf(x[:, 1], x[:, 0] ** 2, math.sqrt(0.5))
    np.testing.assert_allclose(rosenbrock_log_density(x), want, rtol=1e-12)
    # and it is the stated unnormalised density up to a constant
    diff = rosenbrock_log_density(x) - (-0.5 * x[:, 0] ** 2 - (x[:, 1] - x[:, 0] ** 2) ** 2)
    np.testing.assert_allclose(diff, diff[0], rtol=1e-12)


def test_sampler_moments_and_conditional_law():
    n = 200_000
    x = sample_rosenbrock((4, n // 4), np.random.default_rng(1)).reshape(-1, 2)
    x1, x2 = x[:, 0], x[:, 1]
    # E x1 = 0, Var x1 = 1, E x2 = E x1² = 1, Var x2 = Var x1² + 1/2 = 2.5, Cov(x1, x2) = E x1³ = 0,
    # Var(x1 (x2 − 1)) = E x1⁶ − 2 E x1⁴ + E x1² + E x1² / 2 = 15 − 6 + 1 + 0.5
    checks = [(x1, 0.0, 1.0), (x1**2, 1.0, math.sqrt(2)), (x2, 1.0, math.sqrt(2.5)), (x1 * (x2 - 1), 0.0, math.sqrt(10.5))]
    for values, mean, sd in checks:
        assert abs(values.mean() - mean) < 5 * sd / math.sqrt(n)
    assert abs(x2.var() - 2.5) < 5 * math.sqrt(np.var((x2 - 1) ** 2) / n)
    # x2 | x1 ~ N(x1², 1/2): the standardised residual is standard normal and independent of x1
    z = (x2 - x1**2) * math.sqrt(2)
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(z, x1**2)[0, 1]) < 5 / math.sqrt(n)
