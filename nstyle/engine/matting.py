"""The matting Laplacian of a photo (Levin, Lischinski & Weiss, "A Closed-Form Solution to
Natural Image Matting", 2008) and the photorealism term built on it (Luan, Paris, Shechtman &
Bala, "Deep Photo Style Transfer", CVPR 2017).

For the photo I (H, W, 3) in 0..1 and each 3x3 window w_k inside it, with the window's mean
mu_k and covariance S_k (divided by 9):

    L_ij = sum_{k: i, j in w_k} [delta_ij - (1 + (I_i - mu_k)^T M_k^-1 (I_j - mu_k)) / 9],
    M_k = S_k + (eps / 9) I_3

``V^T L V`` is the residual of the best (ridge-regularised) affine fit of V on the photo's
colours in every window, summed: a picture that is locally an affine recolouring of the
photo costs ~0, one with new edges or textures does not. The term on a picture V (H, W, 3)
in 0..1 is ``weight * sum_c V_c^T L V_c``, its gradient ``2 weight L V_c``.

``Windows`` applies L window by window without forming it: per window, the affine fit
(a_k, b_k) of V on the photo (a 3x3 solve precomputed per window), then
``(L V)_i = sum_{k: i in w_k} (V_i - a_k^T I_i - b_k)``, a few box sums. Measured at
700x437 (one core, float64): the windows build in 1.1 s with an 81 MiB peak and hold 37 MiB,
a product takes 0.14 s; scipy's sparse L (7.6 million non-zeros) builds in 2.5 s with a 703
MiB peak, holds 95 MiB, and a product takes 0.01 s. The term uses the windows: a tenth of
the memory (the sparse build does not fit a 4096-px photo's budget), and 0.1 s more per
evaluation is little next to the network's seconds. ``laplacian`` builds the sparse matrix
for what needs L itself (a solve, the tests).
The term is local: L V at a pixel depends on the 5x5 pixels around it, so a tile with a
2-pixel margin has the whole picture's values in its interior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-7  # Levin et al.'s and Luan et al.'s regulariser of the windows' covariances
# The photorealism term's (``pixels.MattingTerm``): with EPS a flat window's fit may take any
# slope on the photo's noise at no cost, and the style loss amplified the noise of skies and
# ceilings into dark blotches (docs/BENCHMARKS.md, "Photo to photo"); 1e-4 (a window's colour
# spread of 3/255, the noise of a sky) makes an amplified slope there cost, and leaves the fit
# of real edges (spreads of tens of levels) as it was.
TERM_EPS = 1e-4
MARGIN = 2  # the pixels of context a tile needs for exact values in its interior


def window_sums(values: np.ndarray) -> np.ndarray:
    """Sums over each 3x3 window inside the picture: (H, W, ...) -> (H-2, W-2, ...)."""
    rows = values[:-2] + values[1:-1] + values[2:]
    return rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]


def pixel_sums(per_window: np.ndarray) -> np.ndarray:
    """For each pixel, the sum of ``per_window`` (H-2, W-2, ...) over the windows that hold
    it: (H, W, ...), the transpose of ``window_sums``."""
    h, w = per_window.shape[0] + 2, per_window.shape[1] + 2
    out = np.zeros((h, w, *per_window.shape[2:]), per_window.dtype)
    for dy in range(3):
        for dx in range(3):
            out[dy : dy + h - 2, dx : dx + w - 2] += per_window
    return out


def check_photo(photo: np.ndarray) -> np.ndarray:
    """The photo as float64 (H, W, 3) in 0..1, at least 3x3 (one window)."""
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or min(photo.shape[:2]) < 3:
        raise ValueError(
            f"the matting Laplacian needs an (H, W, 3) photo, H, W >= 3: {photo.shape}"
        )
    return photo.astype(np.float64)


@dataclass(frozen=True)
class Windows:
    """What L needs of the photo, per 3x3 window: the mean colour (H-2, W-2, 3), the
    inverse of the regularised covariance (H-2, W-2, 3, 3), and how many windows hold each
    pixel (H, W). Built once per photo and size, in float64 (eps is 1e-7: a flat window's
    inverse is ~1e8)."""

    photo: np.ndarray
    mean: np.ndarray
    inverse: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, photo: np.ndarray, eps: float = EPS) -> Windows:
        """The windows of ``photo`` (H, W, 3) in 0..1."""
        photo = check_photo(photo)
        mean = window_sums(photo) / 9
        outer = window_sums(photo[..., :, None] * photo[..., None, :]) / 9
        covariance = outer - mean[..., :, None] * mean[..., None, :]
        covariance += (eps / 9) * np.eye(3)
        inverse = np.linalg.inv(covariance)
        count = pixel_sums(np.ones(mean.shape[:2]))
        return cls(photo, mean, inverse, count)

    def apply(self, v: np.ndarray) -> np.ndarray:
        """L v for v (H, W) or (H, W, C), each channel on its own, float64."""
        v = np.asarray(v, np.float64)
        flat = v.ndim == 2
        v = v[..., None] if flat else v
        mean_v = window_sums(v) / 9  # (h, w, C)
        cross = window_sums(self.photo[..., :, None] * v[..., None, :]) / 9  # (h, w, 3, C)
        cross -= self.mean[..., :, None] * mean_v[..., None, :]
        a = self.inverse @ cross  # the fit's slopes on the photo's colours (h, w, 3, C)
        b = mean_v - np.einsum("hwk,hwkc->hwc", self.mean, a)  # and its offsets
        fitted = np.einsum("hwk,hwkc->hwc", self.photo, pixel_sums(a))
        out = self.count[..., None] * v - fitted - pixel_sums(b)
        return out[..., 0] if flat else out


def energy(windows: Windows, picture: np.ndarray, weight: float = 1.0):
    """(``weight * sum_c V_c^T L V_c``, its gradient ``2 weight L V``) for the picture V
    (H, W, 3) in 0..1, at the photo's size."""
    v = np.asarray(picture, np.float64)
    if v.shape != windows.photo.shape:
        raise ValueError(f"picture {v.shape} is not at the photo's size {windows.photo.shape}")
    lv = windows.apply(v)
    return weight * float(np.sum(v * lv)), (2 * weight) * lv


# Pixels per band of ``Bands``: its temporaries, about 340 bytes a pixel of a band, stay
# near 21 MiB. They are added to the painting's peak at every evaluation of the term (2^18
# pixels held 85 MiB: 4% of a 700-px photo-to-photo run's peak); more, smaller bands cost
# only numpy's per-call overhead.
BAND_PIXELS = 2**16


@dataclass(frozen=True)
class Bands:
    """``Windows`` of a photo in horizontal bands of about ``BAND_PIXELS`` pixels, each
    built on its rows and a ``MARGIN`` of rows either side: L v band by band, exact (the
    term is local), so that ``apply``'s temporaries are a band's whatever the picture's
    size; a picture of one band holds one ``Windows`` of the whole."""

    rows: tuple[tuple[int, int], ...]  # each band's interior rows [y0, y1)
    windows: tuple[Windows, ...]  # each built on rows [y0 - MARGIN, y1 + MARGIN) (clipped)

    @classmethod
    def of(cls, photo: np.ndarray, band_pixels: int = BAND_PIXELS, eps: float = EPS) -> Bands:
        h, w = np.asarray(photo).shape[:2]
        step = max(3, band_pixels // max(w, 1))
        rows = tuple((y, min(h, y + step)) for y in range(0, h, step))
        if len(rows) > 1 and rows[-1][1] - rows[-1][0] < 3:  # a last sliver: join it
            rows = (*rows[:-2], (rows[-2][0], h))
        windows = tuple(
            Windows.of(photo[max(0, y0 - MARGIN) : min(h, y1 + MARGIN)], eps) for y0, y1 in rows
        )
        return cls(rows, windows)

    @property
    def shape(self) -> tuple[int, ...]:
        h = self.rows[-1][1]
        return (h, *self.windows[0].photo.shape[1:])

    def apply(self, v: np.ndarray) -> np.ndarray:
        """L v for v (H, W, C), float64: ``Windows.apply`` band by band."""
        out = np.empty(v.shape, np.float64)
        h = v.shape[0]
        for (y0, y1), windows in zip(self.rows, self.windows):
            top = max(0, y0 - MARGIN)
            band = windows.apply(v[top : min(h, y1 + MARGIN)])
            out[y0:y1] = band[y0 - top : y1 - top]
        return out


def laplacian(photo: np.ndarray, eps: float = EPS):
    """L as a scipy.sparse CSR matrix (N, N), N = H*W in row-major pixel order: each of
    the 25 offsets between two pixels of a window accumulated over the windows at once
    (vectorised over the windows: 81 array operations, no loop per pixel)."""
    import scipy.sparse

    windows = Windows.of(photo, eps)
    h, w = windows.photo.shape[:2]
    centred = [
        windows.photo[dy : dy + h - 2, dx : dx + w - 2] - windows.mean
        for dy in range(3)
        for dx in range(3)
    ]
    scaled = [np.einsum("hwkl,hwl->hwk", windows.inverse, x) for x in centred]
    bands: dict[
        tuple[int, int], np.ndarray
    ] = {}  # (dy, dx) offset -> (H, W) entries L[p, p + offset] at pixel p
    for a, xa in enumerate(centred):
        for b, sb in enumerate(scaled):
            value = -(1 + np.einsum("hwk,hwk->hw", xa, sb)) / 9 + (a == b)
            offset = (b // 3 - a // 3, b % 3 - a % 3)
            band = bands.setdefault(offset, np.zeros((h, w)))
            band[a // 3 : a // 3 + h - 2, a % 3 : a % 3 + w - 2] += value
    index = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for (dy, dx), band in bands.items():
        ys, xs = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
        rows.append(index[ys, xs].ravel())
        cols.append(index[ys, xs].ravel() + dy * w + dx)
        vals.append(band[ys, xs].ravel())
    coo = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
    return scipy.sparse.csr_matrix(coo, shape=(h * w, h * w))
