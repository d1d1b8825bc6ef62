"""The photorealistic post-processes (engine.smoothing) on small pictures made here."""

import numpy as np
import pytest

from nstyle.engine import matting, smoothing

MATRIX = np.array([[0.6, 0.2, 0.1], [-0.1, 0.7, 0.1], [0.2, 0.0, 0.5]])
SHIFT = np.array([0.1, 0.05, 0.2])


def scene(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """A photo in 0..1: gradients, a bright square with sharp edges, a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    photo = np.stack([0.2 + 0.5 * x, 0.3 + 0.4 * y, 0.4 + 0.2 * x * y], -1)
    photo[6:16, 8:20] += 0.3
    return np.clip(photo + rng.normal(0, 0.01, photo.shape), 0, 1)


def recoloured(photo: np.ndarray) -> np.ndarray:
    return photo @ MATRIX.T + SHIFT


def test_the_local_fit_recovers_an_affine_map():
    photo = scene()
    slopes, offsets = smoothing.affine_fit(photo, recoloured(photo), radius=1, ridge=1e-12)
    assert np.allclose(slopes, MATRIX, atol=1e-4) and np.allclose(offsets, SHIFT, atol=1e-4)
    assert np.allclose(smoothing.apply(photo, slopes, offsets), recoloured(photo), atol=1e-6)


METHODS = {
    "guided": lambda p, y: smoothing.guided(p, y, radius=4, ridge=1e-4),  # 1e-2 blurs a flat photo
    "closed form": smoothing.closed_form,
}


@pytest.mark.parametrize("method", METHODS)
def test_a_recolouring_passes_brush_marks_go(method):
    photo = scene()
    clean = recoloured(photo)
    assert np.abs(METHODS[method](photo, clean) - clean).max() < 0.02
    marks = np.random.default_rng(1).normal(0, 0.05, photo.shape)  # texture the photo lacks
    painted = np.clip(clean + marks, 0, 1)
    out = METHODS[method](photo, painted)
    windows = matting.Windows.of(photo)
    assert matting.energy(windows, out)[0] < 0.1 * matting.energy(windows, painted)[0]
    assert np.abs(out - clean).mean() < 0.5 * np.abs(painted - clean).mean()


def test_the_closed_form_is_its_linear_systems_solution():
    import scipy.sparse
    import scipy.sparse.linalg

    photo, alpha = scene(10, 12), 0.99
    picture = np.random.default_rng(2).random(photo.shape)
    laplacian = matting.laplacian(photo)
    system = (1 - alpha) * scipy.sparse.identity(120) + alpha * laplacian / 9
    direct = np.stack(
        [
            scipy.sparse.linalg.spsolve(system.tocsc(), (1 - alpha) * picture[..., c].ravel())
            for c in range(3)
        ],
        -1,
    ).reshape(photo.shape)
    found = smoothing.closed_form(photo, picture, alpha, tolerance=1e-10)
    assert np.allclose(found, np.clip(direct, 0, 1), atol=1e-6)


def test_the_closed_form_gives_back_the_photos_faint_texture():
    """A thin cloud (a gradient and 2 levels of noise) that the painting made flat: the
    closed form on the painting's change from the photo, its windows at ``CHANGE_EPS``,
    gives its texture back (with Levin et al.'s 1e-7 on the painting itself a flat picture
    stays flat); a recolouring passes unchanged."""
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 12, 24)[None, :, None] + np.zeros((24, 24, 3))
    cloud = np.clip(np.round(170 + ramp + rng.normal(0, 2, ramp.shape)), 0, 255) / 255
    painted = np.broadcast_to(cloud.mean(axis=(0, 1)) + 0.05, cloud.shape)
    out = smoothing.smooth("closed", cloud, painted)
    texture = (cloud - cloud.mean(axis=(0, 1))).ravel()
    assert np.corrcoef((out - out.mean(axis=(0, 1))).ravel(), texture)[0, 1] > 0.9
    assert np.abs(smoothing.smooth("closed", cloud, cloud + 0.05) - (cloud + 0.05)).max() < 1e-3
