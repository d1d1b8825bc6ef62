"""The Wasserstein-2 distance between Gaussians (issue 25): its value against scipy's
matrix square root, its gradient against finite differences, a singular covariance, and
the low-rank path equal to the full one (issue 32)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import sqrtm

from nstyle.engine.wasserstein import (
    RIDGE,
    Target,
    W2Terms,
    moments,
    sqrtm_psd,
    w2,
    w2_factor,
)


def covariance(rng, channels, positions):
    features = rng.normal(size=(channels, positions))
    centred = features - features.mean(axis=1, keepdims=True)
    return features.mean(axis=1), centred @ centred.T / positions


def scipy_w2(mean, cov, mean_s, cov_s):
    root = np.real(sqrtm(cov_s))
    cross = np.real(sqrtm(root @ cov @ root))
    return np.sum((mean - mean_s) ** 2) + np.trace(cov) + np.trace(cov_s) - 2 * np.trace(cross)


def regularised_w2(mean, cov, mean_s, cov_s):
    """The distance as written in the module's docstring, from scipy's square roots: between
    the picture's covariance plus eps T^-1 and T = (S + (S^2 + 4 eps I)^1/2) / 2, eps =
    RIDGE times the painting's squared mean eigenvalue."""
    size = len(cov_s)
    eps = RIDGE * (np.trace(cov_s) / size) ** 2
    target = (cov_s + np.real(sqrtm(cov_s @ cov_s + 4 * eps * np.eye(size)))) / 2
    return scipy_w2(mean, cov + eps * np.linalg.inv(target), mean_s, target)


def test_the_value_is_scipy_s_and_zero_against_itself():
    rng = np.random.default_rng(0)
    mean, cov = covariance(rng, 6, 40)
    mean_s, cov_s = covariance(rng, 6, 50)
    value, _, _ = w2(mean, cov, Target.of(mean_s, cov_s, ridge=0))
    assert_allclose(value, scipy_w2(mean, cov, mean_s, cov_s), rtol=1e-9)
    assert abs(w2(mean, cov, Target.of(mean, cov))[0]) < 1e-9
    assert_allclose(
        w2(mean, cov, Target.of(mean_s, cov_s))[0],
        regularised_w2(mean, cov, mean_s, cov_s),
        rtol=1e-9,
    )
    # a singular painting (3 positions for 6 channels): still 0 against itself
    mean_3, cov_3 = covariance(rng, 6, 3)
    assert abs(w2(mean_3, cov_3, Target.of(mean_3, cov_3))[0]) < 1e-9
    assert_allclose(sqrtm_psd(cov) @ sqrtm_psd(cov), cov, atol=1e-12)


@pytest.mark.parametrize("positions", [2, 4, 5])
def test_the_low_rank_path_is_the_full_one(positions):
    """A covariance of fewer positions than its 6 channels through its factor: the value and
    both gradients the (C, C) eigendecomposition's."""
    rng = np.random.default_rng(positions)
    features = rng.normal(size=(6, positions)) * rng.uniform(0.1, 10, size=(6, 1))
    mean = features.mean(axis=1)
    factor = (features - mean[:, None]) / np.sqrt(positions)
    target = Target.of(*covariance(rng, 6, 9))
    full = w2(mean, factor @ factor.T, target)
    low = w2_factor(mean, factor, target)
    assert_allclose(low[0], full[0], rtol=1e-10)
    assert_allclose(low[1], full[1], rtol=1e-12)
    assert_allclose(low[2], full[2], atol=1e-9 * np.abs(full[2]).max())


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
    # along any symmetric direction: regularised, the distance is smooth even where the
    # picture's covariance is singular (the coarse scales), though curved there: a smaller
    # step for the central difference's third-order error
    h = 1e-6 if positions > 6 else 1e-7
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


def test_each_key_keeps_only_the_matrix_its_path_needs():
    """``w2`` takes T's root, the low-rank path T itself: each key's target holds one (C, C)
    matrix through the scale, not both (2 MiB a region and layer at 512 channels,
    docs/BENCHMARKS.md "Photo to photo"); the values and gradients bit for bit the whole
    target's."""
    rng = np.random.default_rng(8)
    many, few = rng.normal(size=(6, 30)), rng.normal(size=(6, 4))
    grams = [many @ many.T, few @ few.T]
    sums = [many.sum(axis=1), few.sum(axis=1)]
    terms = W2Terms(grams, sums, [30, 4], [None, np.ones(4)])
    assert terms.factored == [False, True]
    assert terms.targets[0].covariance is None and terms.targets[0].root is not None
    assert terms.targets[1].covariance is not None and terms.targets[1].root is None
    whole = [Target.of(*moments(g, s, n)) for g, s, n in zip(grams, sums, [30, 4])]
    picture = rng.normal(size=(6, 30))
    value, _, d_cov = w2(*moments(picture @ picture.T, picture.sum(axis=1), 30), whole[0])
    statistics = [picture @ picture.T, grams[1]], [picture.sum(axis=1), sums[1]]
    values, d_grams, _ = terms.evaluate(*statistics, [None, few])
    assert values[0] == 30 * value and np.array_equal(d_grams[0], d_cov)
    mean = sums[1] / 4
    factor = (few - mean[:, None]) * np.sqrt(np.ones(4) / 4)  # as ``W2Terms._one``
    low = w2_factor(mean, factor, whole[1])
    assert values[1] == 4 * low[0] and np.array_equal(d_grams[1], low[2])
    with pytest.raises(ValueError, match="without its covariance"):
        w2_factor(np.zeros(6), few, terms.targets[0])
    with pytest.raises(ValueError, match="without its root"):
        w2(np.zeros(6), np.eye(6), terms.targets[1])
