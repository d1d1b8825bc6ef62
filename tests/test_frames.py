"""Video frames on the real VGG-16 at a small size: a camera pan over the bundled photo,
painted frame by frame with and without the temporal term (Ruder et al. 2016)."""

from pathlib import Path

import numpy as np
import pytest

import nstyle
from nstyle.api import Painter
from nstyle.errors import NStyleError
from nstyle.media import flow as temporal
from nstyle.media import images

ROOT = Path(__file__).resolve().parents[1]
EDGE, SHIFT, COUNT = 64, 3, 3


@pytest.fixture(scope="module")
def pan():
    """Frames of a camera panning left over the photo (the scene moves right by SHIFT px a
    frame) and the pan's exact flows: forward (t to t+1) +SHIFT, backward -SHIFT."""
    photo = images.resize_long_edge(images.read_image(ROOT / "input" / "content.jpg"), 128)
    frames = [
        np.ascontiguousarray(photo[30 : 30 + EDGE, 40 - SHIFT * t : 40 - SHIFT * t + EDGE])
        for t in range(COUNT)
    ]
    forward, backward = np.zeros((EDGE, EDGE, 2), np.float32), np.zeros((EDGE, EDGE, 2), np.float32)
    forward[..., 0], backward[..., 0] = SHIFT, -SHIFT
    assert temporal.warping_error(frames, [(forward, backward)] * (COUNT - 1)) < 1e-9
    return frames, [(forward, backward)] * (COUNT - 1)


@pytest.fixture(scope="module")
def style():
    return images.read_image(ROOT / "input" / "style.jpg")


def options(**changes):
    return nstyle.Options(
        **{"model": "vgg16", "max_long_edge": EDGE, "max_num_epochs": 40, **changes}
    )


def paint_all(painter, frames):
    styled: list[np.ndarray] = []
    for i, frame in enumerate(frames):
        previous = (frames[i - 1], styled[-1]) if i else (None, None)
        styled.append(painter.paint_frame(frame, *previous).image)
    return styled


def test_the_temporal_term_cuts_flicker_along_the_pan(pan, style, vgg16):
    frames, flows = pan
    alone = paint_all(Painter([style], options(temporal_weight=0), weights=vgg16), frames)
    tied = paint_all(Painter([style], options(), weights=vgg16), frames)
    assert alone[0].shape == tied[0].shape == (EDGE, EDGE, 3)
    flicker_alone = temporal.warping_error(alone, flows)
    flicker_tied = temporal.warping_error(tied, flows)
    assert flicker_tied < 0.5 * flicker_alone, (flicker_tied, flicker_alone)
    # every frame is painted, not a copy of the first carried along
    assert all(np.abs(t.astype(int) - f).mean() > 10 for t, f in zip(tied, frames))


def test_weight_zero_paints_each_frame_on_its_own(pan, style, vgg16):
    frames, _ = pan
    painter = Painter([style], options(temporal_weight=0, max_num_epochs=8), weights=vgg16)
    alone = painter.paint(frames[1]).image
    assert np.array_equal(painter.paint_frame(frames[1], frames[0], alone).image, alone)


def test_a_previous_frame_of_another_size_is_refused_in_one_line(pan, style, vgg16):
    frames, _ = pan
    painter = Painter([style], options(max_num_epochs=2), weights=vgg16)
    with pytest.raises(NStyleError, match="start: 32x32, the output is 64x64"):
        painter.paint(frames[1], start=frames[0][:32, :32])
