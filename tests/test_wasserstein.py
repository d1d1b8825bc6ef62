"""The Wasserstein-2 distance between Gaussians (issue 25): its value against scipy's
matrix square root, its gradient against finite differences, a singular covariance."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import sqrtm

from nstyle.engine.wasserstein import RIDGE, Target, W2Terms, sqrtm_psd, w2


def covariance(rng, channels, positions):
    features = rng.normal(size=(channels, positions))
    centred = features - features.mean(axis=1, keepdims=True)
    return features.mean(axis=1), centred @ centred.T / positions


def scipy_w2(mean, cov, mean_s, cov_s):
    root = np.real(sqrtm(cov_s))
    cross = np.real(sqrtm(root @ cov @ root))
    return np.sum((mean - mean_s) ** 2) + np.trace(cov) + np.trace(cov_s) - 2 * np.trace(cross)


def test_the_value_is_scipy_s_and_zero_against_itself():
    rng = np.random.default_rng(0)
    mean, cov = covariance(rng, 6, 40)
    mean_s, cov_s = covariance(rng, 6, 50)
    value, _, _ = w2(mean, cov, Target.of(mean_s, cov_s, ridge=0))
    assert_allclose(value, scipy_w2(mean, cov, mean_s, cov_s), rtol=1e-9)
    assert abs(w2(mean, cov, Target.of(mean, cov))[0]) < 1e-9
    # the ridge: the painting's mean eigenvalue times RIDGE on both diagonals
    ridge = RIDGE * np.trace(cov_s) / 6
    ridged = scipy_w2(mean, cov + ridge * np.eye(6), mean_s, cov_s + ridge * np.eye(6))
    assert_allclose(w2(mean, cov, Target.of(mean_s, cov_s))[0], ridged, rtol=1e-9)
    assert_allclose(sqrtm_psd(cov) @ sqrtm_psd(cov), cov, atol=1e-12)


@pytest.mark.parametrize("positions", [40, 4])  # 4 < 6 channels: a singular covariance
def test_the_gradient_is_the_finite_differences(positions):
    rng = np.random.default_rng(1)
    mean, cov = covariance(rng, 6, positions)
    target = Target.of(*covariance(rng, 6, 30))
    value, d_mean, d_cov = w2(mean, cov, target)
    assert np.all(np.isfinite(d_cov))
    h = 1e-6
    for i in range(6):
        step = np.zeros(6)
        step[i] = h
        numeric = (w2(mean + step, cov, target)[0] - w2(mean - step, cov, target)[0]) / (2 * h)
        assert_allclose(d_mean[i], numeric, rtol=1e-6, atol=1e-9)
    # along any symmetric direction: with the ridge both covariances are definite, the
    # distance smooth even where the picture's covariance is singular (the coarse scales)
    for _ in range(4):
        direction = rng.normal(size=(6, 6))
        direction = direction + direction.T
        plus = w2(mean, cov + h * direction, target)[0]
        minus = w2(mean, cov - h * direction, target)[0]
        numeric = (plus - minus) / (2 * h)
        assert_allclose(np.sum(d_cov * direction), numeric, rtol=1e-5, atol=1e-8)


def test_statistics_gone_nan_or_inf_give_nan_not_an_exception():
    """An image gone NaN or inf (the solvers then roll back) gives NaN, as the Gram loss
    on the device does, where LAPACK would raise."""
    rng = np.random.default_rng(6)
    features = rng.normal(size=(4, 30))
    terms = W2Terms([features @ features.T], [features.sum(axis=1)], [30])
    for bad in (np.nan, np.inf):
        gram = features @ features.T
        gram[1, 2] = bad
        values, d_grams, d_sums = terms.evaluate([gram], [features.sum(axis=1)])
        assert np.isnan(values[0]) and np.all(np.isnan(d_grams[0])) and np.all(np.isnan(d_sums[0]))
    values, _, _ = terms.evaluate([features @ features.T], [features.sum(axis=1)])
    assert abs(values[0]) < 1e-9  # the painting's own statistics
