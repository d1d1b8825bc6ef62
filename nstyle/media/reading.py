"""Image files in: photos, paintings, --init pictures and masks, read by Pillow (HEIC/AVIF
through its plugins) under a pixel limit checked before any pixel is decoded, each refusal
one line. ``nstyle.media.images`` re-exports what is here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nstyle.errors import NStyleError, TooLarge, UnsupportedMedia, squeezed
from nstyle.files import check_readable
from nstyle.media import colour
from nstyle.media.metadata import Source, source_of

log = logging.getLogger("nstyle")

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


# Foreign warnings about code rather than the file: silenced on reading, not reported.
CODE_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


@contextlib.contextmanager
def header(path: Path, max_pixels: int, quiet: bool = False) -> Iterator[Any]:
    """An image file opened by Pillow, nothing decoded but its header: its size checked
    against ``max_pixels`` before any pixel is (our own check, instead of Pillow's); a file
    Pillow cannot read is ``UnsupportedMedia``, in one line. Pillow's own warnings while
    it is read (a damaged EXIF block: "Truncated File Read", with Pillow's source path)
    become one nstyle line (none with ``quiet``: a check before the reading that says it)."""
    from PIL import Image, UnidentifiedImageError

    check_readable(path, "image")
    plugins()
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with warnings.catch_warnings(record=True) as caught, Image.open(path) as img:
            warnings.simplefilter("always")
            check_pixels(path, img.size, max_pixels)
            yield img
        about_the_file = [w for w in caught if not issubclass(w.category, CODE_WARNINGS)]
        if about_the_file and not quiet:
            log.warning(
                "nstyle: warning: %s: part of the file is damaged (%s); what could be read is used",
                path,
                squeezed(about_the_file[0].message),
            )
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, MemoryError) as exc:
        message = f"{path}: not a readable image ({squeezed(exc)})"  # libheif's has lines
        raise UnsupportedMedia(message, subject=path) from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


@contextlib.contextmanager
def opened(path: Path, max_pixels: int) -> Iterator[Any]:
    """``header``'s image, that image turned as the camera's orientation tag says (its
    pixels decoded), and its ICC profile."""
    from PIL import ImageOps

    with header(path, max_pixels) as img:
        yield img, ImageOps.exif_transpose(img), img.info.get("icc_profile")


def read_source(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> Source:
    """The file's colour profile and metadata as ``read_photo`` gives them, from its header
    alone: no pixel decoded, the profile tried on one pixel of the mode ``read_photo``
    converts it from. A batch checks with it, before any painting, that each picture can
    be written as asked; the reading that paints gives the warnings (none here)."""
    from PIL import Image

    path = Path(path)
    with header(path, max_pixels, quiet=True) as img:
        source = source_of(img, path, warn=False)
        if source.icc is not None:
            probe = Image.new(read_mode(img), (1, 1))
            if colour.to_srgb(probe, source.icc, path, warn=False) is probe:
                source = dataclasses.replace(source, icc=None)  # ignored: read as sRGB
        return source


def read_mode(img: Any) -> str:
    """The mode ``read_photo`` gives the colour profile: float and 16-bit grey as 8-bit
    grey, a palette as RGB (RGBA with a transparent colour), any other as it is."""
    if img.mode == "F" or img.mode.startswith("I"):
        return "L"
    if img.mode in ("P", "PA", "1"):
        return "RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB"
    return img.mode


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
        source = source_of(original, path)
        if img.mode == "F":  # 32-bit float grey (TIFF)
            img = from_floats(img, str(path), path)
        elif img.mode.startswith("I"):  # 16-bit grey ("I;16*"; "I" from 16-bit PNGs)
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
        if img.mode == "F":
            img = from_floats(img, f"{what} {path}", path)
        refuse_guesses(img, path, what, img.mode.startswith("I"),
                       "white: the painting's region, black: none", "as greyscale ")  # fmt: skip
        if img.mode in ("P", "1"):
            img = img.convert("RGB")
        mask = np.asarray(colour.to_srgb(img, icc, path).convert("L"), np.uint8)
    if not mask.any():
        raise NStyleError(f"{what} {path} is black everywhere: its painting would go nowhere")
    return mask


def refuse_guesses(img: Any, path: Path, what: str, sixteen: bool, advice: str, how=""):
    """Refuse in one line a mask or label file whose values would be a guess: ``sixteen``
    bits per value, or an alpha channel (which of its values marks a region?); ``advice``
    says what its values should be, ``how`` how to save it without the alpha."""
    if sixteen:
        raise NStyleError(
            f"{what} {path} has 16 bits per value: save it with 8 ({advice})", subject=path
        )
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        raise NStyleError(
            f"{what} {path} has an alpha channel: save it {how}without one ({advice})",
            subject=path,
        )


FLOAT_SLACK = 1 / 255  # a float file's overshoot of 0..1 within this: rounding, clipped


def from_floats(img: Any, label: str, path: Path) -> Any:
    """A float image (Pillow's mode "F": 32-bit float TIFFs, grey) as 8-bit grey, its
    values 0..1 from black to white (what editors save, and scikit-image's convention).
    NaN, inf or values beyond 0..1 are refused in one line naming ``label`` (``path``):
    what they stand for (0..255? an HDR scene?) would be a guess."""
    from PIL import Image

    values = np.asarray(img, np.float32)
    if not np.all(np.isfinite(values)):
        raise NStyleError(
            f"{label}: a float image holding NaN or inf values: save it with values in "
            "0..1 (0: black, 1: white), or with 8 or 16 bits",
            subject=path,
        )
    low, high = float(values.min()), float(values.max())
    if low < -FLOAT_SLACK or high > 1 + FLOAT_SLACK:
        raise NStyleError(
            f"{label}: a float image with values in {low:g}..{high:g}: nstyle reads float "
            "images in 0..1 (0: black, 1: white); save it scaled to 0..1, or with 8 or 16 bits",
            subject=path,
        )
    return Image.fromarray(np.round(np.clip(values, 0, 1) * 255).astype(np.uint8))
