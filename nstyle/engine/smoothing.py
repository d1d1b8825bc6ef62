"""The post-process that makes a stylised picture a photograph again: its colours
re-expressed as local affine functions of the photo's, so that the photo's edges and detail
come back and brush marks go.

- ``closed_form`` (Li, Liu, Li, Yang & Kautz, "A Closed-form Solution to Photorealistic
  Image Stylization", 2018): R = (1 - a)(I - a S)^-1 Y, S = D^-1/2 W D^-1/2, W the matting
  affinity of the photo (``engine.matting``); one conjugate-gradient solve for the three
  channels at once, L applied band by band. The default, applied by ``smooth`` to the
  painting's change from the photo with the windows at ``CHANGE_EPS`` (the photo added back).
- ``guided``: the best affine fit of the picture on the photo over each window, its
  coefficients box-averaged (He, Sun & Tang's guided filter; Li et al.'s fast
  approximation): O(N) box sums, for pictures whose sparse Laplacian would not fit.

Measured on the paper's six examples (a segmented Gram painting at 350 px, upsampled to
700, as input; photo-to-photo measures of ``bench.photo``), the closed form gave the lowest
matting energy on all six (1.8e-5 to 3.6e-5 per pixel at a = 0.9999, 12 to 50 times below
the published results) and the highest edge correlation, the guided filter 3e-4 on
average, and Luan et al.'s post-process (the 3x3 fit's coefficients joint-bilateral filtered
guided by the photo, radius 15, edge 0.01) 5e-4 to 5e-3, above the published results, in
30 s against the guided filter's 3: it is not kept. The closed form's cost is the look:
a = 0.9999 moved the per-label W2 to the reference from 1.6 to 3.1 (example 1); a = 0.999
kept 1.9 at a matting energy of 2.6e-5, so it is the default.

OpenCV's guided filter is in its contrib build (cv2.ximgproc), which nstyle does not
install; the filter here is a few box sums in numpy. Pictures are RGB float in 0..1,
(H, W, 3), the photo at the picture's size.
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


def guided(
    photo, picture, radius: int = 8, ridge: float = 1e-2, band: int | None = None
) -> np.ndarray:
    """He et al.'s guided filter of ``picture`` guided by the photo (colour guide), in
    bands of ``band`` rows (default: about 2^18 pixels each) with a margin of two radii
    (the fit's box and its coefficients' box), exact: its temporaries, a few hundred bytes
    a pixel, stay a band's whatever the picture's size."""
    photo, picture = np.asarray(photo, np.float64), np.asarray(picture, np.float64)
    h, w = photo.shape[:2]
    band = band or max(4 * radius, 2**18 // max(w, 1))
    out = np.empty(picture.shape, np.float64)
    margin = 2 * radius
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        top, bottom = max(0, y0 - margin), min(h, y1 + margin)
        slopes, offsets = affine_fit(
            photo[top:bottom], picture[top:bottom], radius, ridge * (2 * radius + 1) ** 2
        )
        part = apply(photo[top:bottom], box(slopes, radius), box(offsets, radius))
        out[y0:y1] = part[y0 - top : y1 - top]
    return out


def smooth(kind: str, photo: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """``picture`` (H, W, 3) float in 0..1 post-processed as ``kind`` says ("closed",
    "guided" or "none") with the photo (RGB uint8 or 0..1 floats, the same size): float32."""
    if kind == "none":
        return np.asarray(picture, np.float32)
    guide = np.asarray(photo, np.float64)
    guide = guide / 255.0 if np.asarray(photo).dtype == np.uint8 else guide
    if kind == "guided":
        return guided(guide, picture).astype(np.float32)
    change = closed_form(guide, picture - guide, eps=CHANGE_EPS, clip=False)
    return np.clip(guide + change, 0, 1).astype(np.float32)


# The closed form smooths the painting's change from the photo with the windows regularised
# by 3e-5 (docs/BENCHMARKS.md, "Photo to photo"): with Levin et al.'s 1e-7 the photo is affine
# in itself and this is the closed form of the picture; 3e-5 gives back the photo's faint
# texture where the painting removed it (thin clouds) and evens the painting's noise there.
CHANGE_EPS = 3e-5


def closed_form(
    photo,
    picture,
    alpha: float = 0.999,
    tolerance: float = 1e-4,
    iterations: int = 2000,
    eps: float = matting.EPS,
    clip: bool = True,
):
    """Li et al.'s smoothing (see the module): ((1 - a) I + a D^-1/2 L D^-1/2) R = (1 - a) Y
    (the same system: W = D - L, D the windows per pixel), by conjugate gradients from Y,
    stopped at a relative residual of ``tolerance``. D is taken as 9 (the interior's count)
    everywhere: with the true count (4 and 6 within 2 pixels of the border) R / sqrt(D) is
    what comes out locally affine, and R has a 2-pixel frame. L is applied band by band
    without forming it (``matting.Bands``): on the paper's example 1 at 700x437 the same
    result (within 6e-11) in 47 s against the sparse matrix's 34 s (a loaded machine), at a
    179 MiB peak against 703 MiB."""
    bands = matting.Bands.of(photo, eps=eps)
    picture = np.asarray(picture, np.float64)
    h, w, c = picture.shape
    scale = 1 / 3.0

    def system(r: np.ndarray) -> np.ndarray:
        lr = bands.apply((scale * r).reshape(h, w, c)).reshape(-1, c)
        return (1 - alpha) * r + alpha * scale * lr

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
    return np.clip(x.reshape(h, w, c), 0, 1) if clip else x.reshape(h, w, c)
