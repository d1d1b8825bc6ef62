"""Image files in and out, and the one preprocess/postprocess pair.

The network takes an RGB image in 0..255 pixel units minus the weights' mean pixel,
laid out (1, 3, H, W) float32; ``preprocess`` makes it, ``postprocess`` undoes it.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from nstyle.errors import NStyleError

# Four 2x2 poolings lie between relu1_1 and relu5_1: anything smaller has no relu5_1 pixel.
MIN_EDGE = 16


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); grey and alpha are converted."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise NStyleError(f"image {path} does not exist")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)  # honour the camera's orientation tag
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(img, np.float64)
                scale = 65535.0 if array.max() > 255 else 255.0
                img = Image.fromarray(np.round(array / scale * 255).astype(np.uint8))
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                # Flatten transparency onto white, as a viewer shows it.
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)
            return np.asarray(img.convert("RGB"), np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise NStyleError(f"{path}: not a readable image ({exc})")


def long_edge_shape(shape, long_edge: int) -> tuple[int, int]:
    """(H, W) of an image of ``shape`` resized to a longer side of ``long_edge``."""
    h, w = shape[:2]
    factor = long_edge / max(h, w)
    size = (max(1, round(h * factor)), max(1, round(w * factor)))
    if min(size) < MIN_EDGE:
        raise NStyleError(f"image of {w}x{h} at a long edge of {long_edge} px is "
                          f"{size[1]}x{size[0]}: both sides must be at least {MIN_EDGE} px")
    return size


def resize_long_edge(image: np.ndarray, long_edge: int) -> np.ndarray:
    """Resize (H, W, 3) uint8 so that its longer side is ``long_edge``, aspect kept."""
    return resize_to(image, long_edge_shape(image.shape, long_edge))


def resize_to(image: np.ndarray, shape) -> np.ndarray:
    """Resize (H, W, 3) uint8 to exactly ``shape`` = (H', W')."""
    from skimage.transform import resize

    if tuple(image.shape[:2]) == tuple(shape):
        return image
    smaller = shape[0] * shape[1] < image.shape[0] * image.shape[1]
    out = resize(image, tuple(shape), order=1, anti_aliasing=smaller, preserve_range=True)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


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

    smooth = denoise_tv_chambolle(image.astype(np.float64) / 255.0, weight=weight,
                                  channel_axis=-1)
    return np.clip(np.round(smooth * 255.0), 0, 255).astype(np.uint8)


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write (H, W, 3) uint8 atomically: a temporary file in the same folder, then a rename."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise NStyleError(f"{path}: unknown image type {path.suffix!r} (use .jpg or .png)")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            options = {"quality": 95} if fmt == "JPEG" else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Image.fromarray(image).save(out, format=fmt, **options)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
    """Shift and scale ``y`` to the mean and standard deviation of ``reference``."""
    return (y - y.mean()) * (reference.std() / max(y.std(), 1e-6)) + reference.mean()


def with_colours_of(luma_image: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """The luminance of ``luma_image`` with the I and Q (colour) of ``colours``, RGB uint8."""
    from skimage.color import rgb2yiq, yiq2rgb

    yiq = rgb2yiq(colours.astype(np.float64) / 255.0)
    yiq[..., 0] = luminance(luma_image) / 255.0
    return np.clip(np.round(yiq2rgb(yiq) * 255.0), 0, 255).astype(np.uint8)
