"""Where a video's shots begin: consecutive frames compared by their colour, so that a
batch paints each shot as a chain of frames and starts afresh at a cut.

The correlation of two frames' hue-saturation histograms (OpenCV, 30 x 32 bins on a copy of
at most ``HISTOGRAM_EDGE`` px) is near 1 within a scene, whether the camera pans or the
subject moves, and drops at a cut to another scene: a shot starts where it is below
``CUT_CORRELATION``. A slow fade is not a cut (and needs none: the flow follows it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

CUT_CORRELATION = 0.5  # hue-saturation histogram correlation below which a shot starts
HISTOGRAM_EDGE = 64  # frames are compared on a copy this small (long edge, px)


def frame_histogram(frame: np.ndarray) -> np.ndarray:
    """The normalised hue-saturation histogram of an RGB uint8 frame, (30, 32) float32."""
    import cv2

    h, w = frame.shape[:2]
    scale = HISTOGRAM_EDGE / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        frame = cv2.resize(np.ascontiguousarray(frame), size, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2HSV)
    histogram = cv2.calcHist([hsv], [0, 1], None, [30, 32], [0, 180, 0, 256])
    return np.asarray(histogram / max(float(histogram.sum()), 1.0), np.float32)


def scene_cuts(histograms: Iterable[np.ndarray]) -> list[int]:
    """The frames (indices > 0) where a new shot starts: those whose histogram correlates
    with the previous frame's below ``CUT_CORRELATION``. Read as they come, one histogram
    kept at a time: an hour of video costs no memory."""
    cuts, previous = [], None
    for index, histogram in enumerate(histograms):
        if previous is not None and is_cut(previous, histogram):
            cuts.append(index)
        previous = histogram
    return cuts


def is_cut(previous: np.ndarray, histogram: np.ndarray) -> bool:
    """Whether a frame with ``histogram`` starts a new shot after one with ``previous``."""
    import cv2

    return cv2.compareHist(previous, histogram, cv2.HISTCMP_CORREL) < CUT_CORRELATION


def shots(count: int, cuts: Sequence[int]) -> list[range]:
    """The frame ranges between cuts: ``shots(6, [2])`` is ``[range(0, 2), range(2, 6)]``."""
    bounds = [0, *sorted(c for c in cuts if 0 < c < count), count]
    return [range(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
