"""Writing a painted picture: one writer for every path (one picture, a batch in this
process or on Ray, an interrupted or diverged run, the web app's downloads), so that the
same picture comes out as the same file wherever it was painted.

``Finish`` is how a picture is written (its colour profile, the photo's location, the
denoising); ``write_picture`` writes the optimiser's float picture with it and the photo's
``Source``. ``encode`` makes the file's bytes; ``check_encodable`` refuses, before any
work, what the write would refuse at the end (a type that cannot carry the photo's
profile, metadata too large for a JPEG, a profile with no inverse).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nstyle.errors import NStyleError, squeezed
from nstyle.files import image_format, replaced_atomically
from nstyle.media import colour, sixteen
from nstyle.media.metadata import Source, exif_bytes, exif_tags

PROFILES = ("srgb", "photo")
# Pillow's types whose files carry an ICC profile; a BMP, GIF or PPM has none (a viewer
# takes its numbers as sRGB), so the photo's own profile cannot go into one.
PROFILED = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp"}
PROFILED_TOO = {"HEIF": ".heic", "AVIF": ".avif"}
JPEG_EXIF_BYTES = 65533  # a JPEG's APP1 segment: 64 KiB less its length field
SIXTEEN = ("PNG", "TIFF")  # the types written at 16 bits from a float picture


@dataclass(frozen=True)
class Finish:
    """How a painted picture is written, the same on every path: its colours (``profile``:
    sRGB, or the photo's own ICC profile), the photo's location carried or not, and the
    TV denoising of the written picture."""

    profile: str = "srgb"
    location: bool = False
    remove_noise: float = 0.0


def profiled_types() -> str:
    """The types a photo's own profile can go into, for messages."""
    return ", ".join([*PROFILED.values(), *PROFILED_TOO.values()])


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise NStyleError(f"profile={profile!r}: expected one of {', '.join(PROFILES)}")


def checked_picture(image: Any) -> np.ndarray:
    """``image`` as a picture to write, or one line: RGB uint8 (0..255), uint16
    (0..65535) or float in 0..1 (a float picture in 0..255 would be clipped to white)."""
    if not isinstance(image, np.ndarray):
        raise NStyleError(f"a picture to write must be a numpy array, got {type(image).__name__}")
    if image.dtype in (np.uint8, np.uint16):
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise NStyleError(
            f"a picture of dtype {image.dtype} cannot be written: use uint8 (0..255), "
            "uint16 (0..65535) or float (0..1)"
        )
    if image.size and not np.all(np.isfinite(image)):
        raise NStyleError("a float picture to write holds NaN or inf values")
    low, high = (float(image.min()), float(image.max())) if image.size else (0.0, 0.0)
    if low < 0 or high > 1:
        raise NStyleError(
            f"a float picture must be in 0..1 to be written, got {low:g}..{high:g}; "
            "divide by 255, or pass uint8 for 0..255"
        )
    return image


def encode(
    image: np.ndarray,
    fmt: str = "JPEG",
    quality: int = 95,
    *,
    source: Source | None = None,
    profile: str = "srgb",
    location: bool = False,
) -> bytes:
    """A picture as the bytes of an image file (``fmt``: Pillow's format name) carrying its
    colour profile: sRGB, or with ``profile="photo"`` the photo's own (``source.icc``; the
    pixels converted). With ``source``, the photo's EXIF goes along (``metadata``; its
    location with ``location``). ``image``: RGB uint8, or float in 0..1 or uint16 (16 bits),
    which a PNG keeps at 16 bits per channel (any other format rounds it to 8); a TIFF is
    always 16-bit. What cannot be written so is one line (``NStyleError``)."""
    from PIL import Image

    check_profile(profile)
    image = checked_picture(image)
    icc = colour.srgb_profile()
    if image.dtype == np.uint16:  # as the floats it was rounded from (within 0.5/65535)
        image = image / np.float32(65535.0)
    pixels = image
    if profile == "photo" and source is not None and source.icc is not None:
        if fmt not in PROFILED and fmt not in PROFILED_TOO:
            raise NStyleError(
                f"--output-profile photo: a {fmt} file carries no colour profile, so the "
                f"photo's {source.profile_name} colours would show wrong; write one of "
                f"{profiled_types()}, or keep sRGB (the default)"
            )
        floats = image / 255.0 if image.dtype == np.uint8 else image
        pixels, icc = colour.from_srgb(floats, source.icc), source.icc
    if fmt == "TIFF" or (pixels.dtype != np.uint8 and fmt == "PNG"):
        deep = sixteen.as_sixteen(pixels)
        if fmt == "PNG":
            return sixteen.png16(deep, icc, exif_bytes(source, location) if source else None)
        return sixteen.tiff16(deep, icc, exif_tags(source, location))
    if pixels.dtype != np.uint8:
        pixels = np.clip(np.round(pixels * 255.0), 0, 255).astype(np.uint8)
    options: dict[str, Any] = {"icc_profile": icc}
    if source is not None:
        options["exif"] = exif = exif_bytes(source, location)
        if fmt == "JPEG" and len(exif) > JPEG_EXIF_BYTES:
            raise NStyleError(
                f"the photo's metadata ({len(exif) / 1024:.0f} KiB of EXIF) is more than a "
                "JPEG's 64 KiB segment holds: write .png or .tif, which take it, or remove "
                "the large tags from the photo"
            )
    if fmt in ("JPEG", "WEBP", "AVIF", "HEIF"):
        options["quality"] = quality
    encoded = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Image.fromarray(pixels).save(encoded, format=fmt, **options)
    return encoded.getvalue()


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    source: Source | None = None,
    *,
    profile: str = "srgb",
    location: bool = False,
) -> Path:
    """Write a picture atomically: a temporary file in the same folder, then a rename.

    ``image`` is RGB uint8, or float in 0..1 (``Result.pixels``, the optimiser's picture
    before rounding): a ``.png`` of it has 16 bits per channel, a ``.tif`` always. The file
    carries an sRGB profile, or the photo's own (``profile="photo"``, ``source`` from
    ``read_photo``), and the photo's date, camera and lens (``encode``).
    A failure (full disk, folder gone) raises ``NStyleError`` and leaves nothing behind:
    neither a partial file nor a changed ``path``.
    """
    path = Path(path)
    fmt = image_format(path)
    check_profile(profile)
    image = checked_picture(image)
    with replaced_atomically(path) as tmp:
        # whole first: Pillow's encoders ignore short writes
        encoded = encode(image, fmt, source=source, profile=profile, location=location)
        with open(tmp, "wb") as out:
            out.write(encoded)  # raises on a full disk
    return path


def write_picture(
    path: str | os.PathLike, picture: np.ndarray, source: Source | None, finish: Finish
) -> Path:
    """A painted picture (the optimiser's float picture, or uint8) written as ``finish``
    says: denoised, in sRGB or the photo's profile, with the photo's metadata. Every path
    writes through here."""
    return write_image(
        path, denoise(checked_picture(picture), finish.remove_noise), source,
        profile=finish.profile, location=finish.location,
    )  # fmt: skip


def check_encodable(
    path: str | os.PathLike,
    source: Source | None,
    finish: Finish,
    what: str = "the photo's profile",
) -> None:
    """Refuse now, in one line, what writing a picture of this photo to ``path`` would
    refuse at the end: a profile that cannot take the picture back (``what`` names it), a
    type without a colour profile for the photo's, metadata a JPEG cannot hold (a small
    picture is encoded as the result will be). The command line, a batch and the web app
    share it. An encoder's own failure (Pillow's writers raise many kinds) is an
    ``NStyleError`` whose ``unwritable`` field is the format."""
    fmt = image_format(Path(path))
    if finish.profile == "photo" and source is not None and source.icc is not None:
        colour.matrix_shaper(source.icc, what)
    try:
        encode(
            np.zeros((8, 8, 3), np.float32), fmt, source=source, profile=finish.profile,
            location=finish.location,
        )  # fmt: skip
    except NStyleError:
        raise
    except Exception as exc:
        raise NStyleError(
            f"nstyle cannot write a picture as {fmt} ({squeezed(exc)})", unwritable=fmt
        ) from None


def denoise(image: np.ndarray, weight: float) -> np.ndarray:
    """TV-Chambolle smoothing of what is written, as the original example does; uint8 in,
    uint8 out; a float picture (0..1) stays float."""
    if weight <= 0:
        return image
    if image.dtype == np.uint16:
        image = image / np.float32(65535.0)
    from skimage.restoration import denoise_tv_chambolle

    scale = 255.0 if image.dtype == np.uint8 else 1.0
    smooth = denoise_tv_chambolle(image.astype(np.float64) / scale, weight=weight, channel_axis=-1)
    if image.dtype != np.uint8:
        return np.clip(smooth, 0.0, 1.0).astype(np.float32)
    return np.clip(np.round(smooth * 255.0), 0, 255).astype(np.uint8)
