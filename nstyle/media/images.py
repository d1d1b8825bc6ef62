"""Image files in and out, and the one preprocess/postprocess pair.

The network takes an RGB image in 0..255 pixel units minus the weights' mean pixel,
laid out (1, 3, H, W) float32; ``preprocess`` makes it, ``postprocess`` undoes it.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from nstyle.config.limits import MAX_ELEMENTS
from nstyle.errors import NStyleError, TooLarge, UnsupportedMedia
from nstyle.files import check_readable, image_format, replaced_atomically
from nstyle.spec import MIN_EDGE

# Pillow's own hard limit (twice its warning limit): larger files are refused as likely
# decompression bombs unless the caller raises the limit (--max-image-pixels).
MAX_IMAGE_PIXELS = 178_956_970


def read_image(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); grey, 16-bit and alpha are converted.

    The size in the file's header is checked against ``max_pixels`` before any pixel is
    decoded.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    check_readable(path, "image")
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # our own check, below
    try:
        with Image.open(path) as opened:
            img: Image.Image = opened
            check_pixels(path, img.size, max_pixels)
            img = ImageOps.exif_transpose(img)  # honour the camera's orientation tag
            if img.mode.startswith("I"):  # 16-bit grey ("I;16*"; "I" from 16-bit PNGs)
                array = np.asarray(img, np.float64)
                img = Image.fromarray(np.round(np.clip(array, 0, 65535) / 257).astype(np.uint8))
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                # Flatten transparency onto white, as a viewer shows it.
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)
            return np.asarray(img.convert("RGB"), np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise UnsupportedMedia(f"{path}: not a readable image ({exc})", subject=path) from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


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
    """A mask file as greyscale uint8 (H, W) (colour is taken as its luminance), with the
    guards of ``read_image``. One with an alpha channel or 16 bits is refused in one line:
    which of its values marks the region would be a guess."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    check_readable(path, "image")
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # our own check, below
    try:
        with Image.open(path) as opened:
            check_pixels(path, opened.size, max_pixels)
            img = ImageOps.exif_transpose(opened)
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
            mask = np.asarray(img.convert("L"), np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise UnsupportedMedia(f"{path}: not a readable image ({exc})", subject=path) from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
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


def denoise(image: np.ndarray, weight: float) -> np.ndarray:
    """TV-Chambolle smoothing of what is written, as the original example does."""
    if weight <= 0:
        return image
    from skimage.restoration import denoise_tv_chambolle

    smooth = denoise_tv_chambolle(image.astype(np.float64) / 255.0, weight=weight, channel_axis=-1)
    return np.clip(np.round(smooth * 255.0), 0, 255).astype(np.uint8)


def encode(image: np.ndarray, fmt: str = "JPEG", quality: int = 95) -> bytes:
    """(H, W, 3) uint8 as the bytes of an image file (``fmt``: Pillow's format name)."""
    from PIL import Image

    encoded = io.BytesIO()
    options = {"quality": quality} if fmt == "JPEG" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Image.fromarray(image).save(encoded, format=fmt, **options)
    return encoded.getvalue()


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write (H, W, 3) uint8 atomically: a temporary file in the same folder, then a rename.

    A failure (full disk, folder gone) raises ``NStyleError`` and leaves nothing behind:
    neither a partial file nor a changed ``path``.
    """
    path = Path(path)
    fmt = image_format(path)
    with replaced_atomically(path) as tmp:
        encoded = encode(image, fmt)  # whole first: Pillow's encoders ignore short writes
        with open(tmp, "wb") as out:
            out.write(encoded)  # raises on a full disk
    return path


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
    from skimage.color import rgb2yiq, yiq2rgb

    yiq = rgb2yiq(colours.astype(np.float64) / 255.0)
    yiq[..., 0] = luminance(luma_image) / 255.0
    return np.clip(np.round(yiq2rgb(yiq) * 255.0), 0, 255).astype(np.uint8)
