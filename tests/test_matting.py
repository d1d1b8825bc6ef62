"""The matting Laplacian and the photorealism term (engine.matting) against the formula."""

import numpy as np
import pytest

from nstyle.engine import matting


def photo_of(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A small photo-like image in 0..1: smooth gradients, an edge and a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    photo = np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * (x > 0.5)], axis=-1)
    return np.clip(photo + rng.normal(0, 0.05, photo.shape), 0, 1)


def dense_laplacian(photo: np.ndarray, eps: float = matting.EPS) -> np.ndarray:
    """Levin et al.'s formula, one window at a time, as a dense matrix."""
    h, w, _ = photo.shape
    big = np.zeros((h * w, h * w))
    for cy in range(1, h - 1):
        for cx in range(1, w - 1):
            idx = [(cy + dy) * w + cx + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
            colours = photo.reshape(-1, 3)[idx]
            mu = colours.mean(axis=0)
            cov = (colours - mu).T @ (colours - mu) / 9
            inv = np.linalg.inv(cov + eps / 9 * np.eye(3))
            local = np.eye(9) - (1 + (colours - mu) @ inv @ (colours - mu).T) / 9
            big[np.ix_(idx, idx)] += local
    return big


@pytest.mark.parametrize("eps", [matting.EPS, 1e-3])
def test_sparse_and_window_by_window_equal_the_formula(eps):
    photo = photo_of(6, 7)
    dense = dense_laplacian(photo, eps)
    sparse = matting.laplacian(photo, eps).toarray()
    scale = np.abs(dense).max()
    assert np.abs(sparse - dense).max() < 1e-9 * scale
    v = np.random.default_rng(1).random((6, 7, 3))
    applied = matting.Windows.of(photo, eps).apply(v)
    expected = np.stack([dense @ v[..., c].ravel() for c in range(3)], -1).reshape(6, 7, 3)
    assert np.abs(applied - expected).max() < 1e-6 * np.abs(expected).max()


def test_symmetric_rows_sum_to_zero_positive_semi_definite():
    dense = matting.laplacian(photo_of(5, 6), 1e-4).toarray()
    assert np.allclose(dense, dense.T, atol=1e-9 * np.abs(dense).max())
    assert np.abs(dense.sum(axis=1)).max() < 1e-8 * np.abs(dense).max()
    assert np.linalg.eigvalsh(dense).min() > -1e-8 * np.abs(dense).max()
    assert (matting.laplacian(photo_of(8, 8)).getnnz(axis=1) <= 25).all()


def test_an_affine_recolouring_costs_nothing_a_random_picture_does():
    photo = photo_of(20, 24)
    windows = matting.Windows.of(photo)
    matrix = np.array([[0.5, 0.2, 0.1], [-0.1, 0.8, 0.0], [0.3, 0.0, 0.6]])
    recoloured = photo @ matrix.T + np.array([0.1, 0.05, -0.02])
    noise = np.random.default_rng(3).random(photo.shape)
    affine = matting.energy(windows, recoloured)[0]
    random = matting.energy(windows, noise)[0]
    assert random > 1.0 and affine < 1e-6 * random


def test_gradient_by_finite_differences():
    photo = photo_of(7, 8)
    windows = matting.Windows.of(photo, 1e-3)  # a larger eps keeps the differences exact
    v = np.random.default_rng(4).random(photo.shape)
    value, grad = matting.energy(windows, v, weight=3.0)
    rng, h = np.random.default_rng(5), 1e-6
    for _ in range(6):
        at = tuple(rng.integers(0, s) for s in v.shape)
        up, down = v.copy(), v.copy()
        up[at] += h
        down[at] -= h
        numeric = (matting.energy(windows, up, 3.0)[0] - matting.energy(windows, down, 3.0)[0]) / (
            2 * h
        )
        assert numeric == pytest.approx(grad[at], rel=1e-5, abs=1e-6 * np.abs(grad).max())


@pytest.mark.parametrize("box", [(3, 17, 4, 20), (0, 12, 0, 15), (8, 24, 10, 30)])
def test_a_tile_with_a_two_pixel_margin_has_the_whole_pictures_gradient(box):
    photo, m = photo_of(24, 30), matting.MARGIN
    v = np.random.default_rng(6).random(photo.shape)
    whole = matting.energy(matting.Windows.of(photo), v)[1]
    y0, y1, x0, x1 = box  # the tile's interior; its margin is cut where the picture ends
    ty0, tx0 = max(0, y0 - m), max(0, x0 - m)
    tile = (slice(ty0, min(24, y1 + m)), slice(tx0, min(30, x1 + m)))
    part = matting.energy(matting.Windows.of(photo[tile]), v[tile])[1]
    inner = part[y0 - ty0 : y1 - ty0, x0 - tx0 : x1 - tx0]
    assert np.allclose(inner, whole[y0:y1, x0:x1], rtol=1e-9, atol=1e-9 * np.abs(whole).max())


def test_a_picture_of_another_size_or_a_photo_too_small_is_refused():
    windows = matting.Windows.of(photo_of(5, 5))
    with pytest.raises(ValueError, match="size"):
        matting.energy(windows, np.zeros((5, 6, 3)))
    with pytest.raises(ValueError, match="H, W >= 3"):
        matting.Windows.of(np.zeros((2, 9, 3)))


def test_the_term_s_temporaries_are_a_band_s_not_the_picture_s():
    """Memory (docs/BENCHMARKS.md, "Photo to photo"): L v on a 512 x 512 picture holds its
    result and a small band's temporaries at once (2^16 pixels, about 21 MiB), not the whole
    picture's (85 MiB with bands of 2^18 pixels), added at every evaluation to the peak."""
    import tracemalloc

    rng = np.random.default_rng(0)
    bands = matting.Bands.of(rng.uniform(0, 1, (512, 512, 3)))
    v = rng.uniform(0, 1, (512, 512, 3))
    tracemalloc.start()
    try:
        bands.apply(v)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result = v.nbytes  # float64, as v
    assert peak - result < 32 * 2**20, peak / 2**20
