"""Post-processes that make a stylised picture a photograph again: its colours re-expressed
as local affine functions of the photo's, so that the photo's edges and detail come back and
the brush marks go.

- ``bilateral`` (Luan et al., "Deep Photo Style Transfer", 2017, applied to all its
  published results): per pixel, the best affine fit of the picture's colour on the photo's
  over the 3x3 window (a ridge on the colour terms), the 12 coefficients smoothed by a
  joint-bilateral filter guided by the photo (spatial sigma radius/3, range sigma ``edge``
  on the RMS colour difference), then applied to the photo.
- ``guided``: the same fit over a larger window, its coefficients box-averaged (He, Sun &
  Tang's guided filter; Li et al. 2018's fast approximation of their smoothing).
- ``closed_form`` (Li, Liu, Li, Yang & Kautz, "A Closed-form Solution to Photorealistic
  Image Stylization", 2018): R = (1 - a)(I - a S)^-1 Y, S = D^-1/2 W D^-1/2, W the matting
  affinity of the photo (``engine.matting``); one conjugate-gradient solve for the three
  channels at once.

OpenCV's guided and joint-bilateral filters are in its contrib build (cv2.ximgproc), which
nstyle does not install; each filter here is a few box sums or shifted sums in numpy.
Pictures are RGB float in 0..1, (H, W, 3), the photo at the picture's size.
"""

from __future__ import annotations

import numpy as np

from nstyle.engine import matting


def box(values: np.ndarray, radius: int) -> np.ndarray:
    """The mean over each (2r+1)^2 window (the picture reflected at its borders)."""
    from scipy.ndimage import uniform_filter

    size = (2 * radius + 1, 2 * radius + 1) + (1,) * (values.ndim - 2)
    return uniform_filter(values, size=size, mode="reflect")


def affine_fit(photo: np.ndarray, picture: np.ndarray, radius: int = 1, ridge: float = 1e-3):
    """Per pixel, the affine map (A (H, W, C, 3), b (H, W, C)) that best takes the photo's
    colours to the picture's over the window around it in least squares, ``ridge`` times
    the squared slopes added (on the window's sums, as Luan et al.'s fit)."""
    photo, picture = np.asarray(photo, np.float64), np.asarray(picture, np.float64)
    mean_i, mean_p = box(photo, radius), box(picture, radius)
    cov = box(photo[..., :, None] * photo[..., None, :], radius)
    cov -= mean_i[..., :, None] * mean_i[..., None, :]
    cov += ridge / (2 * radius + 1) ** 2 * np.eye(3)
    cross = box(photo[..., :, None] * picture[..., None, :], radius)
    cross -= mean_i[..., :, None] * mean_p[..., None, :]
    slopes = np.linalg.solve(cov, cross).swapaxes(-1, -2)  # (H, W, C, 3)
    return slopes, mean_p - np.einsum("hwck,hwk->hwc", slopes, mean_i)


def apply(photo: np.ndarray, slopes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The per-pixel affine maps applied to the photo, clipped to 0..1."""
    out = np.einsum("hwck,hwk->hwc", slopes, np.asarray(photo, np.float64)) + offsets
    return np.clip(out, 0, 1)


def guided(photo, picture, radius: int = 8, ridge: float = 1e-2) -> np.ndarray:
    """He et al.'s guided filter of ``picture`` guided by the photo (colour guide)."""
    slopes, offsets = affine_fit(photo, picture, radius, ridge * (2 * radius + 1) ** 2)
    return apply(photo, box(slopes, radius), box(offsets, radius))


def joint_bilateral(
    values: np.ndarray, guide: np.ndarray, radius: int, edge: float, step: int = 1
) -> np.ndarray:
    """``values`` (H, W, K) averaged over the (2r+1)^2 window, weighted by a Gaussian of the
    distance (sigma r/3) times a Gaussian of the guide's RMS colour difference (sigma
    ``edge``); every ``step``-th offset (1: all)."""
    h, w = values.shape[:2]
    padded_v = np.pad(
        values.astype(np.float32), ((radius, radius), (radius, radius), (0, 0)), "reflect"
    )
    padded_g = np.pad(
        guide.astype(np.float32), ((radius, radius), (radius, radius), (0, 0)), "reflect"
    )
    total = np.zeros(values.shape, np.float32)
    weights = np.zeros((h, w, 1), np.float32)
    spatial = 2 * (radius / 3) ** 2
    offsets = range(-(radius // step) * step, radius + 1, step)  # 0 among them
    for dy in offsets:
        for dx in offsets:
            near = (slice(radius + dy, radius + dy + h), slice(radius + dx, radius + dx + w))
            difference = np.mean((padded_g[near] - guide) ** 2, axis=-1, keepdims=True)
            weight = np.exp(-(dy * dy + dx * dx) / spatial - difference / (2 * edge * edge))
            total += weight * padded_v[near]
            weights += weight
    return total / weights


def bilateral(
    photo, picture, radius: int = 15, edge: float = 0.01, ridge: float = 1e-3, step: int = 1
):
    """Luan et al.'s post-process (see the module)."""
    slopes, offsets = affine_fit(photo, picture, 1, ridge)
    h, w, c = offsets.shape
    stacked = np.concatenate([slopes.reshape(h, w, 3 * c), offsets], axis=-1)
    smooth = joint_bilateral(stacked, np.asarray(photo, np.float32), radius, edge, step)
    return apply(photo, smooth[..., : 3 * c].reshape(h, w, c, 3), smooth[..., 3 * c :])


def closed_form(
    photo, picture, alpha: float = 0.9999, tolerance: float = 1e-4, iterations: int = 2000
):
    """Li et al.'s smoothing (see the module): ((1 - a) I + a D^-1/2 L D^-1/2) R = (1 - a) Y
    (the same system: W = D - L, D the windows per pixel), by conjugate gradients from Y on
    the sparse L, stopped at a relative residual of ``tolerance``. D is taken as 9 (the
    interior's count) everywhere: with the true count (4 and 6 within 2 pixels of the
    border) R / sqrt(D) is what comes out locally affine, and R has a 2-pixel frame."""
    laplacian = matting.laplacian(photo)
    picture = np.asarray(picture, np.float64)
    h, w, c = picture.shape
    scale = 1 / 3.0

    def system(r: np.ndarray) -> np.ndarray:
        return (1 - alpha) * r + alpha * scale * (laplacian @ (scale * r))

    right = (1 - alpha) * picture.reshape(-1, c)
    x = picture.reshape(-1, c).copy()
    residual = right - system(x)
    direction, norm = residual.copy(), np.sum(residual * residual, axis=0)
    limit = tolerance**2 * np.sum(right * right, axis=0)
    for _ in range(iterations):
        if np.all(norm <= limit):
            break
        product = system(direction)
        step = norm / np.sum(direction * product, axis=0)
        x += step * direction
        residual -= step * product
        new = np.sum(residual * residual, axis=0)
        direction = residual + (new / norm) * direction
        norm = new
    return np.clip(x.reshape(h, w, c), 0, 1)
