"""Segmentations for photo to photo (Luan et al., "Deep Photo Style Transfer", 2017): label
images of a few flat colours, one for the photo and one for the reference, as its users
paint them (its nine colours: blue, green, black, white, red, yellow, grey, light blue,
purple; or any other flat colour).

A label is a colour that covers a real share of the picture (``MIN_SHARE``); colours within
``TOLERANCE`` of a more common one are the same label (a resize's or a JPEG's shades of
it), and every other pixel (anti-aliased borders) goes to the nearest label. The photo's
labels are matched to the reference's by colour: each becomes a pair of masks (0..1 float,
as ``engine.guides`` takes them); a label in the photo that the reference lacks is given the
whole reference (the paper's code gave it a zero target and painted it black), and a label
only in the reference is left out. Masks keep the segmentation's size: the painter resizes
them to each scale as it does ``--content-mask``/``--style-mask``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nstyle.errors import NStyleError
from nstyle.media import colour
from nstyle.media.images import MAX_IMAGE_PIXELS, opened
from nstyle.media.reading import refuse_guesses

TOLERANCE = 26  # per channel (0..255): the paper's 0.1 of the range, rounded up
MIN_SHARE = 0.002  # of the pixels: a colour covering less is a border's shade, not a label
FLAT_SHARE = 0.9  # of the pixels within TOLERANCE of a label: less is not a label image
MAX_LABELS = 32  # more labels than anyone paints by hand: a photo passed by mistake
MAX_ASPECT_ERROR = 0.02  # relative; more than rounding to whole pixels in a resize


def read_segmentation(
    path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS, what="segmentation"
) -> np.ndarray:
    """A label image file as sRGB uint8 (H, W, 3), with the guards of ``read_image``. One
    with an alpha channel or 16 bits is refused in one line (its labels would be a guess),
    and so is one that is not a few flat colours (``labels_of``)."""
    from PIL import Image

    path = Path(path)
    with opened(path, max_pixels) as (_, img, icc):
        with Image.open(path) as header:  # its raw modes, before decoding (16-bit RGB: RGB)
            raw = " ".join(str(tile.args) for tile in header.tile)
        sixteen = img.mode.startswith("I") or ";16" in raw
        refuse_guesses(img, path, what, sixteen, "one flat colour per label")
        picture = np.asarray(colour.to_srgb(img.convert("RGB"), icc, path).convert("RGB"))
    labels_of(picture, f"{what} {path}")
    return picture.astype(np.uint8)


def labels_of(picture: np.ndarray, what="segmentation") -> np.ndarray:
    """The label colours (K, 3) uint8 of a label image (H, W, 3) uint8, most common first:
    the colours of flat areas (``flat``) covering ``MIN_SHARE`` of the pixels, shades within
    ``TOLERANCE`` of a more common one merged into it (a border's blend is no area: a long
    border of one blend colour is no label). One line if it is not a few flat colours."""
    pixels = picture.reshape(-1, 3)
    wide = pixels[flat(picture).ravel()].astype(np.int32)
    packed = (wide[:, 0] << 16) | (wide[:, 1] << 8) | wide[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    common = order[counts[order] >= MIN_SHARE * len(pixels)]
    found: list[np.ndarray] = []
    for value in values[common]:
        rgb = np.array([(value >> 16) & 255, (value >> 8) & 255, value & 255], np.int32)
        if all(np.abs(rgb - label).max() > TOLERANCE for label in found):
            found.append(rgb)
        if len(found) > MAX_LABELS:
            break
    if len(found) > MAX_LABELS or not found:
        raise NStyleError(
            f"{what}: {'more than ' + str(MAX_LABELS) if found else 'no'} flat colours cover "
            f"{MIN_SHARE:.1%} of it each: a segmentation has one flat colour per label (a "
            "photo passed by mistake?)"
        )
    colours = np.array(found, np.uint8)
    near = (distances(pixels, colours).min(axis=1) <= TOLERANCE).mean()
    if near < FLAT_SHARE:
        raise NStyleError(
            f"{what} is not a few flat colours (only {near:.0%} of it is near the "
            f"{len(found)} that cover {MIN_SHARE:.1%} or more): a segmentation has one flat "
            "colour per label (a photo passed by mistake?)"
        )
    return colours


def flat(picture: np.ndarray) -> np.ndarray:
    """Where a picture (H, W, 3) is flat: (H, W) bool, true where the 3x3 neighbourhood's
    colours lie within ``TOLERANCE`` of each other per channel (all of a picture too small
    for a neighbourhood)."""
    h, w = picture.shape[:2]
    out = np.ones((h, w), bool)
    if min(h, w) < 3:
        return out
    shifted = [picture[dy : h - 2 + dy, dx : w - 2 + dx] for dy in range(3) for dx in range(3)]
    spread = np.max(shifted, axis=0).astype(np.int16) - np.min(shifted, axis=0)
    out[1:-1, 1:-1] = spread.max(axis=-1) <= TOLERANCE
    return out


def distances(pixels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """The largest per-channel difference of each pixel (N, 3) to each colour (K, 3): (N, K)."""
    return np.abs(pixels[:, None, :].astype(np.int16) - colours[None].astype(np.int16)).max(-1)


def label_index(picture: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Each pixel's label (H, W): the nearest of ``colours`` (Euclidean in RGB)."""
    pixels = picture.reshape(-1, 3).astype(np.int32)
    squared = ((pixels[:, None, :] - colours[None].astype(np.int32)) ** 2).sum(-1)
    return squared.argmin(axis=1).reshape(picture.shape[:2])


def check_aspect(segmentation: tuple[int, ...], photo: tuple[int, ...], what: str) -> None:
    """One line if a segmentation's aspect is not its photo's (its labels would not lie on
    the photo's content)."""
    (h, w), (ph, pw) = segmentation[:2], photo[:2]
    slack = MAX_ASPECT_ERROR + 1 / min(h, w, ph, pw)  # a pixel's rounding, at small sizes
    if abs((w / h) / (pw / ph) - 1) > slack:
        raise NStyleError(
            f"{what} is {w}x{h}, its photo {pw}x{ph}: another aspect, so its labels would "
            "not lie on the photo: draw it on the photo or resize it to the photo's aspect"
        )


@dataclass(frozen=True)
class Label:
    """One label of the photo: its colour, its mask on the photo's segmentation, and its
    mask on the reference's (ones everywhere when the reference lacks the label)."""

    colour: tuple[int, int, int]
    content: np.ndarray
    style: np.ndarray
    matched: bool


def labels(
    content: np.ndarray,
    style: np.ndarray,
    content_shape: tuple[int, ...] | None = None,
    style_shape: tuple[int, ...] | None = None,
    names: tuple[str, str] = ("--content-segmentation", "--style-segmentation"),
) -> tuple[Label, ...]:
    """The photo's labels matched by colour to the reference's, from the two label images
    (H, W, 3) uint8; their aspects checked against the photo's and the reference's
    ``content_shape``/``style_shape`` when given, before any other work."""
    for picture, shape, name in (
        (content, content_shape, names[0]),
        (style, style_shape, names[1]),
    ):
        if shape is not None:
            check_aspect(picture.shape, shape, name)
    content_colours = labels_of(content, names[0])
    style_colours = labels_of(style, names[1])
    content_index = label_index(content, content_colours)
    style_index = label_index(style, style_colours)
    found = []
    for k, rgb in enumerate(content_colours):
        near = distances(rgb[None], style_colours)[0]
        matched = bool(near.min() <= TOLERANCE)
        style_mask = (
            (style_index == int(near.argmin())).astype(np.float32)
            if matched
            else np.ones(style.shape[:2], np.float32)
        )
        colour_ = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
        found.append(Label(colour_, (content_index == k).astype(np.float32), style_mask, matched))
    return tuple(found)


@dataclass(frozen=True)
class Regions:
    """What a pair of segmentations gives a run, one entry per label of the photo: the
    reference repeated (``styles``), where each label lies on the photo (``masks``) and on
    the reference (``style_masks``), as ``--content-mask``/``--style-mask`` pairs; and the
    colours the reference lacks (``orphans``: each of those takes the whole reference)."""

    styles: list[np.ndarray]
    masks: list[np.ndarray]
    style_masks: list[np.ndarray]
    orphans: list[tuple[int, ...]]  # colours (r, g, b), or (label,) of ``index_regions``


def regions(
    content: np.ndarray,
    style: np.ndarray,
    reference: np.ndarray,
    content_shape: tuple[int, ...] | None = None,
    names: tuple[str, str] = ("--content-segmentation", "--style-segmentation"),
) -> Regions:
    """The guided statistics' regions of two label images (``labels``) for the reference
    picture ``reference``: the command line's and the web app's one way to turn
    segmentations into a job's style images and masks."""
    found = labels(content, style, content_shape, reference.shape, names)
    return Regions(
        [reference] * len(found),
        [label.content for label in found],
        [label.style for label in found],
        [label.colour for label in found if not label.matched],
    )


def index_regions(content: np.ndarray, style: np.ndarray, reference: np.ndarray) -> Regions:
    """The guided statistics' regions of two label maps (H, W) and (H', W') of integers
    (photo to photo's automatic regions, ``nstyle.engine.autoregions``), labels matched by
    number as ``regions`` matches colours: one region per label of the photo, largest
    first; a label the reference lacks takes the whole reference, one only in the
    reference is left out."""
    numbers, counts = np.unique(content, return_counts=True)
    present = set(np.unique(style).tolist())
    found = [int(k) for k in numbers[np.argsort(-counts, kind="stable")]]
    return Regions(
        [reference] * len(found),
        [(content == k).astype(np.float32) for k in found],
        [
            (style == k).astype(np.float32) if k in present else np.ones(style.shape, np.float32)
            for k in found
        ],
        [(k,) for k in found if k not in present],
    )
