"""Arrays in, resizing, and the one preprocess/postprocess pair (files in:
``nstyle.media.reading``; out: ``nstyle.media.writing``; both re-exported here).

The network takes an RGB image in 0..255 pixel units minus the weights' mean pixel,
laid out (1, 3, H, W) float32; ``preprocess`` makes it, ``postprocess`` undoes it.
"""

from __future__ import annotations

import numpy as np

from nstyle.config.limits import MAX_ELEMENTS
from nstyle.errors import NStyleError, NStyleTypeError
from nstyle.media.reading import (  # noqa: F401  (re-exported: files in)
    FORMATS,
    MAX_IMAGE_PIXELS,
    check_pixels,
    opened,
    plugins,
    read_image,
    read_mask,
    read_photo,
    read_source,
)
from nstyle.media.writing import denoise, encode, write_image  # noqa: F401 (their old home)
from nstyle.spec import MIN_EDGE


def check_array(value, name: str) -> None:
    """A caller's picture or mask is a plain numpy array (a memory map too): one line naming
    ``name`` for anything else, subclasses among them (``np.matrix`` stays 2-D under
    indexing, a masked array's mask would be ignored)."""
    if type(value) is not np.ndarray and not isinstance(value, np.memmap):
        kind = type(value).__name__
        hint = " (pass np.asarray of it)" if isinstance(value, np.ndarray) else ""
        raise NStyleTypeError(f"{name}: expected a numpy array, got {kind}{hint}")


def as_rgb(image, name: str) -> np.ndarray:
    """A caller's array as RGB uint8 (H, W, 3), the way scikit-image users pass images:
    uint8 (0..255), uint16 (0..65535), float (0..1) or bool; grey (H, W) or (H, W, 1);
    RGBA flattened onto white like the file reader. Anything else fails naming ``name``."""
    check_array(image, name)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise NStyleError(
            f"{name}: expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise NStyleError(f"{name}: the image is empty, shape {image.shape}")
    if image.dtype == np.uint8:
        pixels = image
    elif image.dtype == np.uint16:
        pixels = np.round(image / 257.0).astype(np.uint8)
    elif image.dtype == bool:
        pixels = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)):
            raise NStyleError(f"{name}: the image holds NaN or inf values")
        low, high = float(image.min()), float(image.max())
        if low < 0 or high > 1:
            raise NStyleError(
                f"{name}: a float image must be in 0..1 (scikit-image's "
                f"convention), got {low:g}..{high:g}; for 0..255 pass uint8"
            )
        pixels = np.round(image.astype(np.float64) * 255.0).astype(np.uint8)
    else:
        raise NStyleError(
            f"{name}: dtype {image.dtype} is not an image type; use uint8 "
            "(0..255), uint16 (0..65535) or float (0..1)"
        )
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    if pixels.shape[2] == 4:  # onto white, as read_image flattens a file's transparency
        alpha = pixels[..., 3:].astype(np.float64) / 255.0
        flat = pixels[..., :3] * alpha + 255.0 * (1.0 - alpha)
        return np.clip(np.round(flat), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels)


def long_edge_shape(shape, long_edge: int) -> tuple[int, int]:
    """(H, W) of an image of ``shape`` resized to a longer side of ``long_edge``; both
    sides at least ``MIN_EDGE``, or one line."""
    h, w = shape[:2]
    size = scaled_shape(shape, long_edge)
    if min(size) < MIN_EDGE:
        raise NStyleError(
            f"image of {w}x{h} at a long edge of {long_edge} px is "
            f"{size[1]}x{size[0]}: both sides must be at least {MIN_EDGE} px"
        )
    return size


def scaled_shape(shape, long_edge: int) -> tuple[int, int]:
    """``long_edge_shape`` unchecked: at least 1 px a side."""
    h, w = shape[:2]
    factor = long_edge / max(h, w)
    return max(1, round(h * factor)), max(1, round(w * factor))


def resize_long_edge(image: np.ndarray, long_edge: int) -> np.ndarray:
    """Resize (H, W, 3) uint8 so that its longer side is ``long_edge``, aspect kept."""
    return resize_to(image, long_edge_shape(image.shape, long_edge))


def check_size(shape) -> None:
    """A last guard before a resize allocates: no picture MXNet could not hold (the
    memory plan refuses far smaller sizes first, where it is asked)."""
    if 3 * shape[0] * shape[1] >= MAX_ELEMENTS:
        raise NStyleError(
            f"a {shape[1]}x{shape[0]} picture is beyond MXNet's arrays (3 x {shape[1]} x "
            f"{shape[0]} numbers, at most 2^31): choose a smaller --max-long-edge"
        )


def resize_to(image: np.ndarray, shape) -> np.ndarray:
    """Resize (H, W, 3) uint8 to exactly ``shape`` = (H', W')."""
    from skimage.transform import resize

    if tuple(image.shape[:2]) == tuple(shape):
        return image
    check_size(shape)
    image = shrunk(image, shape)
    smaller = shape[0] * shape[1] < image.shape[0] * image.shape[1]
    out = resize(image, tuple(shape), order=1, anti_aliasing=smaller, preserve_range=True)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def shrunk(image: np.ndarray, shape) -> np.ndarray:
    """``image`` (uint8 (H, W) or (H, W, 3), or float32 (H, W)) shrunk by whole block means
    to between 2 and 4 times ``shape`` = (H', W') when it is larger (Pillow's ``reduce``, in
    its own type: scikit-image works in float64 on the whole picture, 9 GB and minutes for
    179 MP), leaving scikit-image an anti-aliased shrink of 2 to 4 times, as Pillow's own
    reducing_gap does. Photos and masks go through it alike."""
    block = min(image.shape[0] // shape[0], image.shape[1] // shape[1]) // 2
    if block < 2:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).reduce(block))


def resize_array(x: np.ndarray, shape) -> np.ndarray:
    """Resize a (1, C, H, W) float array to (1, C, H', W') = ``shape`` (bilinear)."""
    from skimage.transform import resize

    if tuple(x.shape[2:]) == tuple(shape):
        return x
    check_size(shape)
    smaller = shape[0] * shape[1] < x.shape[2] * x.shape[3]
    out = resize(x[0].transpose(1, 2, 0), tuple(shape), order=1, anti_aliasing=smaller)
    return out.transpose(2, 0, 1)[None].astype(np.float32)


def preprocess(image: np.ndarray, mean_pixel: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 pixels minus ``mean_pixel`` (RGB, 0..255)."""
    x = image.astype(np.float32).transpose(2, 0, 1)[None]  # (1, 3, H, W)
    return x - np.asarray(mean_pixel, np.float32)[None, :, None, None]


def postprocess(x: np.ndarray, mean_pixel: np.ndarray) -> np.ndarray:
    """Inverse of ``preprocess``: (1, 3, H, W) -> (H, W, 3) uint8, clipped to 0..255."""
    pixels = x[0] + np.asarray(mean_pixel, np.float32)[:, None, None]  # (3, H, W)
    pixels = np.nan_to_num(pixels, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def unrounded(x: np.ndarray, mean_pixel: np.ndarray, colours=None) -> np.ndarray:
    """``postprocess`` before its rounding: float32 (H, W, 3) in 0..1, what 16-bit files
    are written from; with ``colours`` (RGB uint8, the same size) their I and Q, as
    ``with_colours_of`` keeps a photo's colours."""
    pixels = x[0] + np.asarray(mean_pixel, np.float32)[:, None, None]  # (3, H, W)
    pixels = np.nan_to_num(pixels, nan=0.0, posinf=255.0, neginf=0.0)
    picture = np.clip(pixels, 0, 255).transpose(1, 2, 0) / np.float32(255.0)
    if colours is not None:
        picture = coloured(picture * 255.0, colours) / 255.0
    return picture.astype(np.float32)


def luminance(image: np.ndarray) -> np.ndarray:
    """Y of YIQ, 0..255 float (H, W)."""
    from skimage.color import rgb2yiq

    return rgb2yiq(image.astype(np.float64) / 255.0)[..., 0] * 255.0


def grey(y: np.ndarray) -> np.ndarray:
    """A luminance (H, W) as an RGB uint8 image whose three channels are it."""
    return np.repeat(np.clip(np.round(y), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def match_luminance(y: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``y`` with the histogram of ``reference`` (scikit-image's histogram matching)."""
    from skimage.exposure import match_histograms

    return match_histograms(y, reference)


def with_colours_of(luma_image: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """The luminance of ``luma_image`` with the I and Q (colour) of ``colours``, RGB uint8."""
    return np.clip(np.round(coloured(luma_image, colours)), 0, 255).astype(np.uint8)


def coloured(luma_image: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """``with_colours_of`` before its rounding: float RGB in 0..255."""
    from skimage.color import rgb2yiq, yiq2rgb

    yiq = rgb2yiq(colours.astype(np.float64) / 255.0)
    yiq[..., 0] = luminance(luma_image) / 255.0
    return np.clip(yiq2rgb(yiq) * 255.0, 0, 255)
