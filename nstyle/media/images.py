"""Image files in (out: ``nstyle.media.writing``, whose ``write_image``, ``encode`` and
``denoise`` are importable from here too), and the one preprocess/postprocess pair.

The network takes an RGB image in 0..255 pixel units minus the weights' mean pixel,
laid out (1, 3, H, W) float32; ``preprocess`` makes it, ``postprocess`` undoes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nstyle.config.limits import MAX_ELEMENTS
from nstyle.errors import NStyleError, TooLarge, UnsupportedMedia, squeezed
from nstyle.files import check_readable
from nstyle.media import colour
from nstyle.media.metadata import Source, source_of
from nstyle.media.writing import denoise, encode, write_image  # noqa: F401 (their old home)
from nstyle.spec import MIN_EDGE

# Pillow's own hard limit (twice its warning limit): larger files are refused as likely
# decompression bombs unless the caller raises the limit (--max-image-pixels).
MAX_IMAGE_PIXELS = 178_956_970


FORMATS = "JPEG, PNG, TIFF, WebP, HEIC/HEIF, AVIF, BMP, GIF"  # what --help and the README list


def plugins() -> None:
    """Pillow with HEIC/HEIF (``pillow-heif``) besides its own formats (AVIF among them);
    once, when a file is first opened."""
    global _PLUGINS
    if not _PLUGINS:
        import pillow_heif

        pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
        _PLUGINS = True


_PLUGINS = False


@contextlib.contextmanager
def opened(path: Path, max_pixels: int) -> Iterator[Any]:
    """An image file opened by Pillow, its header's size checked against ``max_pixels``
    before any pixel is decoded (our own check, instead of Pillow's), its orientation
    applied; a file Pillow cannot read is ``UnsupportedMedia``, in one line."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    check_readable(path, "image")
    plugins()
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as img:
            check_pixels(path, img.size, max_pixels)
            icc = img.info.get("icc_profile")
            turned = ImageOps.exif_transpose(img)  # honour the camera's orientation tag
            yield img, turned, icc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, MemoryError) as exc:
        message = f"{path}: not a readable image ({squeezed(exc)})"  # libheif's has lines
        raise UnsupportedMedia(message, subject=path) from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def read_image(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as sRGB uint8 (H, W, 3): colour profiles applied (``colour``),
    grey, CMYK, 16 bits and alpha converted. The size in the file's header is checked
    against ``max_pixels`` before any pixel is decoded."""
    return read_photo(path, max_pixels)[0]


def read_photo(
    path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[np.ndarray, Source]:
    """``read_image``, and the file's colour profile and metadata (``metadata.Source``):
    what a picture painted from it may carry."""
    from PIL import Image

    path = Path(path)
    with opened(path, max_pixels) as (original, img, icc):
        source = source_of(original)
        if img.mode.startswith("I"):  # 16-bit grey ("I;16*"; "I" from 16-bit PNGs)
            array = np.asarray(img, np.float64)
            img = Image.fromarray(np.round(np.clip(array, 0, 65535) / 257).astype(np.uint8))
        elif img.mode in ("P", "PA", "1"):
            transparent = img.mode == "PA" or "transparency" in img.info
            img = img.convert("RGBA" if transparent else "RGB")
        managed = colour.to_srgb(img, icc, path)
        if icc and managed is img:  # its profile ignored: the pixels are sRGB, and so is it
            source = dataclasses.replace(source, icc=None)
        img = managed
        if img.mode in ("RGBA", "LA"):  # transparency flattened onto white, as viewers show it
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        return np.asarray(img.convert("RGB"), np.uint8), source


def check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """The size in a file's header against ``max_pixels``, before any pixel is decoded."""
    width, height = size
    if width * height > max_pixels:
        raise TooLarge(
            f"{path}: {width}x{height} is {width * height / 1e6:.0f} megapixels, more "
            f"than the {max_pixels / 1e6:.0f} nstyle reads (a guard against "
            "decompression bombs); raise it with --max-image-pixels",
            subject=path,
        )


def read_mask(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS, what="mask"):
    """A mask file as greyscale uint8 (H, W) (colour is taken as its luminance, in sRGB),
    with the guards of ``read_image``. One with an alpha channel or 16 bits is refused in
    one line: which of its values marks the region would be a guess."""
    path = Path(path)
    with opened(path, max_pixels) as (_, img, icc):
        if img.mode.startswith("I"):
            raise NStyleError(
                f"{what} {path} has 16 bits per value: save it with 8 (white: the "
                "painting's region, black: none)",
                subject=path,
            )
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            raise NStyleError(
                f"{what} {path} has an alpha channel: save it as greyscale without one "
                "(white: the painting's region, black: none)",
                subject=path,
            )
        if img.mode in ("P", "1"):
            img = img.convert("RGB")
        mask = np.asarray(colour.to_srgb(img, icc, path).convert("L"), np.uint8)
    if not mask.any():
        raise NStyleError(f"{what} {path} is black everywhere: its painting would go nowhere")
    return mask


def as_rgb(image, name: str) -> np.ndarray:
    """A caller's array as RGB uint8 (H, W, 3), the way scikit-image users pass images:
    uint8 (0..255), uint16 (0..65535), float (0..1) or bool; grey (H, W) or (H, W, 1);
    RGBA flattened onto white like the file reader. Anything else fails naming ``name``."""
    if not isinstance(image, np.ndarray):
        raise NStyleError(f"{name}: expected a numpy array, got {type(image).__name__}")
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
    """(H, W) of an image of ``shape`` resized to a longer side of ``long_edge``."""
    h, w = shape[:2]
    factor = long_edge / max(h, w)
    size = (max(1, round(h * factor)), max(1, round(w * factor)))
    if min(size) < MIN_EDGE:
        raise NStyleError(
            f"image of {w}x{h} at a long edge of {long_edge} px is "
            f"{size[1]}x{size[0]}: both sides must be at least {MIN_EDGE} px"
        )
    return size


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
    # A big shrink goes by whole block means first (Pillow, in uint8: scikit-image works in
    # float64 on the whole picture, 9 GB and minutes for 179 MP), leaving scikit-image an
    # anti-aliased shrink of 2 to 4 times, as Pillow's own reducing_gap does.
    block = min(image.shape[0] // shape[0], image.shape[1] // shape[1]) // 2
    if block >= 2:
        from PIL import Image

        image = np.asarray(Image.fromarray(image).reduce(block))
    smaller = shape[0] * shape[1] < image.shape[0] * image.shape[1]
    out = resize(image, tuple(shape), order=1, anti_aliasing=smaller, preserve_range=True)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


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


# ------------------------------------------------------------ colour preservation
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
