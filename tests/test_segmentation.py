"""Segmentations for photo to photo (media.segmentation): labels by colour, anti-aliased
borders, labels missing on either side, and bad files refused in one line."""

import numpy as np
import pytest
from PIL import Image

from nstyle.errors import NStyleError, UnsupportedMedia
from nstyle.media import segmentation, sixteen

RED, BLUE, GREEN, GREY = (255, 0, 0), (0, 0, 255), (0, 255, 0), (128, 128, 128)


def two_labels(left, right, h=20, w=30, split=15) -> np.ndarray:
    """``left`` colour left of column ``split``, ``right`` from it on, the column before
    it an anti-aliased blend (a quarter, a half, three quarters down the rows)."""
    picture = np.zeros((h, w, 3), np.uint8)
    picture[:, :split] = left
    picture[:, split:] = right
    share = np.linspace(0.2, 0.8, h)[:, None]  # how much of ``right`` the border holds
    blend = (1 - share) * np.array(left) + share * np.array(right)
    picture[:, split - 1] = np.round(blend).astype(np.uint8)
    return picture


def test_labels_are_matched_by_colour_and_borders_go_to_the_nearest():
    photo = two_labels(RED, BLUE)
    reference = two_labels(BLUE, RED, split=10)  # the same labels, the other way round
    found = segmentation.labels(photo, reference)
    assert [label.colour for label in found] == [BLUE, RED]  # the most common first
    blue, red = found
    assert red.matched and blue.matched
    assert red.content.dtype == np.float32 and set(np.unique(red.content)) == {0.0, 1.0}
    assert np.array_equal(red.content + blue.content, np.ones((20, 30)))  # each pixel once
    border = red.content[:, 14]  # the blended column: its redder half red, the rest blue
    assert border[:9].all() and not border[11:].any()
    assert red.style[:, 10:].all() and not red.style[:, :9].any()
    assert blue.style[:, :9].all() and not blue.style[:, 10:].any()


def test_shades_of_a_label_are_that_label():
    photo = two_labels(RED, GREY)
    photo[:5, :10] = (250, 6, 3)  # a JPEG's or a resize's shade of red, a label's share
    found = segmentation.labels(photo, two_labels(RED, GREY))
    assert [label.colour for label in found] == [GREY, RED]
    assert found[1].content[:5, :10].all()


def test_a_label_the_reference_lacks_gets_the_whole_reference_one_it_alone_has_is_left_out():
    photo = two_labels(RED, GREEN)
    reference = two_labels(RED, BLUE)  # no green; a blue the photo has not
    green, red = segmentation.labels(photo, reference)
    assert red.matched and not green.matched
    assert np.array_equal(green.style, np.ones((20, 30), np.float32))  # never a zero target
    assert green.content[:, 15:].all()
    assert not red.style[:, 15:].any()  # blue is nobody's


def test_one_colour_everywhere_is_one_label():
    flat = np.full((8, 9, 3), 255, np.uint8)
    (label,) = segmentation.labels(flat, np.full((5, 6, 3), 255, np.uint8))
    assert label.content.all() and label.style.all() and label.matched


def test_a_photo_passed_as_a_segmentation_is_refused():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:60, 0:80]
    smooth = np.stack([x * 3, y * 4, (x + y) * 2], -1) + rng.normal(0, 6, (60, 80, 3))
    for picture in (np.clip(smooth, 0, 255).astype(np.uint8), rng.integers(0, 256, (60, 80, 3))):
        with pytest.raises(NStyleError, match="flat colour"):
            segmentation.labels_of(picture.astype(np.uint8), "--content-segmentation")
    levels = np.array([0, 64, 128, 192, 255], np.uint8)
    many = np.stack(np.meshgrid(levels, levels, levels), -1).reshape(1, -1, 3)[:, :40]
    with pytest.raises(NStyleError, match="more than 32 flat colours"):  # 40 flat patches
        segmentation.labels_of(np.repeat(np.repeat(many, 10, axis=0), 4, axis=1))


def test_another_aspect_than_the_photos_is_refused_a_resized_one_is_not():
    photo_label, reference = two_labels(RED, BLUE), two_labels(RED, BLUE)
    segmentation.labels(photo_label, reference, (40, 60), (201, 300))  # 2:3, within rounding
    with pytest.raises(NStyleError, match="--content-segmentation is 30x20, its photo 30x30"):
        segmentation.labels(photo_label, reference, (30, 30), (20, 30))
    with pytest.raises(NStyleError, match="--style-segmentation is 30x20, its photo 20x30"):
        segmentation.labels(photo_label, reference, (20, 30), (30, 20))


def test_a_label_file_is_read_in_its_colours(tmp_path):
    path = tmp_path / "labels.png"
    Image.fromarray(two_labels(RED, BLUE)).save(path)
    assert np.array_equal(segmentation.read_segmentation(path), two_labels(RED, BLUE))
    palette = tmp_path / "palette.png"
    Image.fromarray(two_labels(RED, BLUE)).convert("P").save(palette)
    found = segmentation.labels_of(segmentation.read_segmentation(palette))
    assert [tuple(c) for c in found] == [BLUE, RED]


def bad_files(tmp_path):
    """Files that are no segmentation, and the words of each one's line."""
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    alpha = tmp_path / "alpha.png"
    Image.fromarray(np.dstack([two_labels(RED, BLUE), np.full((20, 30), 255, np.uint8)])).save(
        alpha
    )
    deep = tmp_path / "deep.png"
    deep.write_bytes(sixteen.png16(two_labels(RED, BLUE).astype(np.uint16) * 257, None, None))
    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.full((20, 30), 40000, np.uint16)).save(grey16)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 30, 3), np.uint8)).save(photo)
    return [
        (text, UnsupportedMedia, "not a readable image"),
        (alpha, NStyleError, "alpha channel"),
        (deep, NStyleError, "16 bits"),
        (grey16, NStyleError, "16 bits"),
        (photo, NStyleError, "photo passed by mistake"),
    ]


def test_bad_files_are_refused_in_one_line_naming_them(tmp_path):
    for path, kind, words in bad_files(tmp_path):
        with pytest.raises(kind, match=words) as caught:
            segmentation.read_segmentation(path, what="--style-segmentation")
        assert "\n" not in str(caught.value) and str(path) in str(caught.value)
