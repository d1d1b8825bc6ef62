"""Photo to photo's automatic regions (issue 33): the photo and the reference clustered
together on the real VGG-16's features, the matched labels found on both sides, the same
maps for the same seed, a region the reference lacks taking the whole reference, small
clusters merged, specks smoothed away; and end to end, each region of the photo taking its
own match's colours where the whole picture as one region cannot."""

import logging

import mxnet as mx
import numpy as np
import pytest

from nstyle.config import Options
from nstyle.engine import autoregions
from nstyle.engine.terms import Network
from nstyle.errors import NStyleError
from nstyle.media import segmentation
from nstyle.spec import CONTENT_LAYERS, STYLE_LAYERS

SKY, GROUND, RED = (150, 190, 240), (40, 110, 40), (220, 30, 30)
DUSK_SKY, DUSK_GROUND = (250, 150, 60), (60, 30, 20)


def two_colours(shape, split, top, bottom, seed, square=None):
    """A picture (H, W, 3) uint8: ``top`` above row ``split``, ``bottom`` below, noise of
    8 grey levels; ``square``: (colour, rows, cols) painted over it."""
    picture = np.empty((*shape, 3), np.float64)
    picture[:split], picture[split:] = top, bottom
    if square is not None:
        colour, rows, cols = square
        picture[rows, cols] = colour
    picture += np.random.default_rng(seed).normal(0, 8, picture.shape)
    return np.clip(picture, 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def net(vgg16):
    return Network.build(
        vgg16.network_params, 16, STYLE_LAYERS, CONTENT_LAYERS, "avg", mx.cpu(), vgg16.channels
    )


def find(net, vgg16, photo, reference, count, seed=0):
    return autoregions.find(net, vgg16.convention.mean_pixel, photo, reference, count, seed)


def majority(labels: np.ndarray) -> int:
    values, counts = np.unique(labels, return_counts=True)
    return int(values[counts.argmax()])


def test_matched_labels_are_found_on_both_sides(net, vgg16):
    """A noon photo (sky over two thirds) and a dusk reference of other colours (sky over a
    third): the photo's sky and the reference's sky are one label, the grounds another
    (the horizon, an edge to the network, is the third)."""
    photo = two_colours((60, 90), 40, SKY, GROUND, 1)
    reference = two_colours((80, 100), 27, DUSK_SKY, DUSK_GROUND, 2)
    mine, theirs = find(net, vgg16, photo, reference, 3)
    assert mine.shape[1] == autoregions.EDGE and theirs.shape[1] == autoregions.EDGE
    h, g = mine.shape[0], theirs.shape[0]
    sky, ground = majority(mine[: h * 6 // 10]), majority(mine[h * 7 // 10 :])
    assert sky != ground
    assert majority(theirs[: g * 3 // 10]) == sky and majority(theirs[g * 4 // 10 :]) == ground
    assert (mine[: h * 6 // 10] == sky).mean() > 0.95  # smooth: no specks
    assert (theirs[g * 4 // 10 :] == ground).mean() > 0.95


def test_the_same_seed_gives_the_same_maps(net, vgg16):
    photo = two_colours((48, 64), 20, SKY, GROUND, 3, (RED, slice(30, 44), slice(40, 60)))
    reference = two_colours((48, 64), 30, DUSK_SKY, DUSK_GROUND, 4)
    first = find(net, vgg16, photo, reference, 4, seed=7)
    again = find(net, vgg16, photo, reference, 4, seed=7)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_a_region_the_reference_lacks_takes_the_whole_reference(net, vgg16):
    """A checkered square only in the photo (a texture the reference has nowhere) is a
    label of its own that the reference lacks: its region's style mask is all of the
    reference, the others are matched."""
    photo = two_colours((60, 90), 30, SKY, GROUND, 5)
    rows, cols = np.mgrid[0:24, 0:43]
    photo[34:58, 45:88] = np.where(((rows // 3 + cols // 3) % 2 == 1)[..., None], 255, 0)
    reference = two_colours((60, 90), 30, DUSK_SKY, DUSK_GROUND, 6)
    mine, theirs = find(net, vgg16, photo, reference, 4)
    h = mine.shape[0]
    checkered = majority(mine[h * 40 // 60 : h * 55 // 60, 220:330])
    assert checkered not in np.unique(theirs)
    made = segmentation.index_regions(mine, theirs, reference)
    assert made.orphans == [(checkered,)]
    for region, style in zip(made.masks, made.style_masks):
        if region[mine == checkered].all():
            assert style.min() == 1.0
        else:
            assert 0 < style.mean() < 1


def test_index_regions_match_by_number():
    """Labels matched by number, largest region first; one only in the reference is left
    out; one only in the photo takes all of the reference (never nothing)."""
    photo = np.array([[0, 0, 1], [0, 0, 2]])
    reference = np.array([[1, 1], [0, 3]])
    made = segmentation.index_regions(photo, reference, np.zeros((2, 2, 3), np.uint8))
    assert len(made.styles) == 3 and made.orphans == [(2,)]
    np.testing.assert_array_equal(made.masks[0], [[1, 1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(made.style_masks[0], [[0, 0], [1, 0]])
    np.testing.assert_array_equal(made.style_masks[1], [[1, 1], [0, 0]])
    np.testing.assert_array_equal(made.style_masks[2], np.ones((2, 2)))


def test_a_cluster_too_small_for_statistics_is_merged_into_the_nearest():
    """A cluster under MIN_SHARE of the photo's points goes to its nearest centre, on
    both sides; the others stay."""
    points = np.array([[0.0], [0.1], [5.0], [5.1], [4.0]] * 10 + [[4.2]])
    centres = np.array([[0.0], [5.0], [4.2]])
    found = np.array([0, 0, 1, 1, 1] * 10 + [2])
    merged = autoregions.merged(points, centres, found, len(points))
    assert merged[-1] == 1 and (merged[:-1] == found[:-1]).all()


def test_the_label_maps_are_smoothed():
    """A one-cell speck of the feature grid does not reach the picture's label map."""
    grid = np.zeros((8, 12), int)
    grid[:, 6:] = 1
    grid[3, 2] = 1  # a speck
    labels = autoregions.label_map(grid, np.array([0, 1]), (160, 240))
    assert (labels[:, :110] == 0).all() and (labels[:, 130:] == 1).all()


def test_the_option():
    """Off by default (the whole picture one region, docs/BENCHMARKS.md); a count from 1
    to 16; a new manifest key only when set."""
    from nstyle.many import inputs, manifest

    assert Options().photo_regions == 1
    with pytest.raises(NStyleError, match="--photo-regions must be > 0"):
        Options(photo_regions=0)
    with pytest.raises(NStyleError, match="--photo-regions must be at most 16"):
        Options(photo_regions=17)
    styles, key = ["ab" * 32], manifest.settings_hash
    keyed = [manifest.settings(Options(photo=True, photo_regions=n), styles, 0.0, inputs.IMAGE)
             for n in (1, 4)]  # fmt: skip
    assert "photo_regions" not in keyed[0] and key(keyed[0]) != key(keyed[1])


def night_and_day(shape, split, sky, ground, seed):
    """A scene (H, W, 3) uint8: a flat ``sky`` above row ``split``, a checkered ``ground``
    of that mean below, noise of 6 grey levels."""
    picture = np.empty((*shape, 3), np.float64)
    picture[:split], picture[split:] = sky, ground
    rows, cols = np.mgrid[split : shape[0], 0 : shape[1]]
    picture[split:] += (((rows // 3 + cols // 3) % 2) * 80.0 - 40)[..., None]
    picture += np.random.default_rng(seed).normal(0, 6, picture.shape)
    return np.clip(picture, 0, 255).round().astype(np.uint8)


def test_each_region_takes_its_matchs_colours_end_to_end(vgg16, caplog):
    """The real VGG-16 at 96 px: a day photo (a bright sky over dark fields) given the look
    of a night one (a dark sky over lit sand). As one region the bright sky takes the
    reference's bright sand's colours; with automatic regions it takes the night sky's."""
    from nstyle import api

    photo = night_and_day((64, 96), 40, (170, 200, 240), (50, 100, 50), 8)
    reference = night_and_day((64, 96), 24, (20, 30, 70), (220, 190, 140), 9)
    settings = dict(
        weights=vgg16, model="vgg16", max_long_edge=96, num_scales=1, max_num_epochs=40, photo=True
    )
    errors = {}
    for count in (1, 3):
        with caplog.at_level(logging.INFO, logger="nstyle.engine.painter"):
            picture = api.stylize(photo, reference, photo_regions=count, **settings)
        errors[count] = np.abs(picture[:34].reshape(-1, 3).mean(0) - (20, 30, 70)).sum()
    assert "region(s) found in the photo and the reference" in caplog.text
    assert errors[3] < 0.5 * errors[1], errors
