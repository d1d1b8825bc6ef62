"""Colour profiles: a picture read in any ICC profile becomes sRGB, and a written one says
which it is in.

Reading goes through LittleCMS (Pillow's ImageCms), perceptual intent, so every profile a
camera, a phone or a prepress tool embeds works: RGB, grey and CMYK, matrix or table based.
A file without a profile is sRGB, as the web takes it. Writing back into a photo's own
profile works from the optimiser's float picture (Pillow's LittleCMS takes 8-bit pictures
only), so it is done here for the RGB matrix/TRC profiles every phone and camera embeds
(Display P3, Adobe RGB, ProPhoto, ...): sRGB's curve and matrix to XYZ (D50), then the
profile's own matrix and curve, inverted.
"""

from __future__ import annotations

import functools
import io
import logging
import struct
from dataclasses import dataclass

import numpy as np

from nstyle.errors import NStyleError

log = logging.getLogger("nstyle")
SPACES = {"RGB ": ("RGB", "RGBA"), "GRAY": ("L", "LA"), "CMYK": ("CMYK", "CMYK")}


@functools.cache
def srgb_profile() -> bytes:
    """LittleCMS's own sRGB profile (ICC v4), the one every written picture carries."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def name_of(icc: bytes) -> str:
    """A profile's description, e.g. "Display P3", for messages ("?" where it has none)."""
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.getProfileDescription(profile).strip() or "?"
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return "?"


def to_srgb(img, icc: bytes | None, where: object = "image", warn: bool = True):
    """``img`` (a Pillow image: RGB, RGBA, L, LA or CMYK) in sRGB when ``icc`` (its ICC
    profile) is given: through the profile, perceptual intent, to RGB (RGBA where it has
    alpha). A profile that cannot be read, or is for another colour space than the
    pixels', is ignored with a warning naming ``where``: the pixels are taken as sRGB and
    ``img`` itself is returned (a new image whenever the profile was applied; no warning
    when not ``warn``: a check whose reading comes later)."""
    from PIL import ImageCms

    if not icc:
        return img
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space
        if img.mode not in SPACES.get(space, ()):
            raise ImageCms.PyCMSError(f"a {space.strip()} profile for {img.mode} pixels")
        alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
        pixels = img.convert("L") if img.mode == "LA" else img
        converted = ImageCms.profileToProfile(
            pixels, profile, srgb_image_profile(), renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGBA" if img.mode == "RGBA" else "RGB",
        )  # fmt: skip
        assert converted is not None  # (None only in place)
        if alpha is not None and img.mode == "LA":  # grey to RGB loses alpha: put it back
            converted.putalpha(alpha)
        return converted
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        if not warn:
            return img
        log.warning(
            "nstyle: warning: %s: its colour profile cannot be used (%s); read as sRGB",
            where,
            exc,
        )
        return img


@functools.cache
def srgb_image_profile():
    """sRGB as an ImageCms profile object (built once)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile()))


# ------------------------------------------------------------ matrix/TRC profiles, in numpy
@dataclass(frozen=True)
class MatrixShaper:
    """An RGB profile made of three tone curves and a matrix to XYZ (D50): what phones and
    cameras embed. ``curve`` samples each channel's encoded -> linear curve on ``SAMPLES``
    points (exact at those, linear between, within a 16-bit level)."""

    matrix: np.ndarray  # (3, 3): linear RGB (columns) -> XYZ D50
    curves: tuple[np.ndarray, np.ndarray, np.ndarray]

    SAMPLES = 65536

    def to_linear(self, encoded: np.ndarray) -> np.ndarray:
        """(..., 3) encoded values in 0..1 -> linear light."""
        grid = np.linspace(0.0, 1.0, self.SAMPLES)
        return np.stack(
            [np.interp(encoded[..., c], grid, self.curves[c]) for c in range(3)], axis=-1
        )

    def from_linear(self, linear: np.ndarray) -> np.ndarray:
        """(..., 3) linear light in 0..1 -> encoded values (each curve inverted)."""
        grid = np.linspace(0.0, 1.0, self.SAMPLES)
        return np.stack(
            [np.interp(linear[..., c], self.curves[c], grid) for c in range(3)], axis=-1
        )


def matrix_shaper(icc: bytes, what: str = "the photo's profile") -> MatrixShaper:
    """The matrix and curves of an RGB matrix/TRC profile; one line when ``icc`` is
    another kind (CMYK, grey, table-based), which only LittleCMS could convert, in 8 bits."""
    tags = _tags(icc, what)
    needed = ("rXYZ", "gXYZ", "bXYZ", "rTRC", "gTRC", "bTRC")
    if icc[16:20] != b"RGB " or not all(name in tags for name in needed):
        raise NStyleError(
            f"{what} ({name_of(icc)}) is not an RGB profile of a matrix and tone curves; "
            "write in sRGB instead (the default)"
        )
    try:
        columns = [_xyz(icc, tags[f"{c}XYZ"]) for c in "rgb"]
        curves = tuple(_curve(icc, tags[f"{c}TRC"], what) for c in "rgb")
    except struct.error:  # a tag's data beyond the profile's end
        raise NStyleError(f"{what} ({name_of(icc)}) is cut short (its tags' data)") from None
    matrix = np.array(columns, np.float64).T
    if not np.all(np.isfinite(matrix)) or np.linalg.cond(matrix) > 1e12:
        raise NStyleError(
            f"{what} ({name_of(icc)}) cannot be inverted: its matrix to XYZ is singular, so "
            "no colour can be taken back into it; write in sRGB instead (the default)"
        )
    return MatrixShaper(matrix, curves)  # type: ignore[arg-type]


def from_srgb(pixels: np.ndarray, icc: bytes) -> np.ndarray:
    """Float RGB (H, W, 3) in 0..1, sRGB -> the same colours in the RGB matrix/TRC profile
    ``icc``, float32 in 0..1 (colours outside its gamut clipped); a profile that cannot
    take them is one line (``matrix_shaper``)."""
    source, target = matrix_shaper(srgb_profile(), "sRGB"), matrix_shaper(icc)
    linear = source.to_linear(np.clip(pixels, 0.0, 1.0))
    convert = np.linalg.solve(target.matrix, source.matrix)  # linear sRGB -> linear target
    moved = np.clip(linear @ convert.T, 0.0, 1.0)
    return target.from_linear(moved).astype(np.float32)


def _tags(icc: bytes, what: str) -> dict[str, tuple[int, int]]:
    """The tag table: each tag's (offset, size); one line naming ``what`` when it is cut."""
    try:
        (count,) = struct.unpack_from(">I", icc, 128)
        return {
            icc[at : at + 4].decode("latin-1"): struct.unpack_from(">II", icc, at + 4)
            for at in range(132, 132 + 12 * count, 12)
        }
    except struct.error:
        raise NStyleError(f"{what} is cut short (its tag table)") from None


def _xyz(icc: bytes, where: tuple[int, int]) -> list[float]:
    offset, _ = where
    return [v / 65536.0 for v in struct.unpack_from(">3i", icc, offset + 8)]


# The parametric curves of ICC v4 (para), by function type: how many parameters each has.
PARAMETERS = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}


def _curve(icc: bytes, where: tuple[int, int], what: str) -> np.ndarray:
    """A tone curve (curv: identity, a gamma or a table; para: ICC's five functions),
    encoded -> linear, sampled on ``MatrixShaper.SAMPLES`` points of 0..1."""
    offset, _ = where
    x = np.linspace(0.0, 1.0, MatrixShaper.SAMPLES)
    kind = icc[offset : offset + 4]
    if kind == b"curv":
        (n,) = struct.unpack_from(">I", icc, offset + 8)
        if n == 0:
            return x
        if n == 1:
            return x ** (struct.unpack_from(">H", icc, offset + 12)[0] / 256.0)
        table = np.array(struct.unpack_from(f">{n}H", icc, offset + 12), np.float64) / 65535.0
        return np.interp(x, np.linspace(0.0, 1.0, n), np.maximum.accumulate(table))
    if kind == b"para":
        (function,) = struct.unpack_from(">H", icc, offset + 8)
        if function in PARAMETERS:
            values = struct.unpack_from(f">{PARAMETERS[function]}i", icc, offset + 12)
            return _parametric(function, [v / 65536.0 for v in values], x)
    raise NStyleError(f"{what} ({name_of(icc)}) has a tone curve nstyle cannot invert")


def _parametric(function: int, p: list[float], x: np.ndarray) -> np.ndarray:
    """ICC's parametric curve ``function`` with parameters ``p`` at ``x``."""
    g, a, b, c, d, e, f = (p + [0.0] * 7)[:7]
    if function == 0:
        return x**g
    if function == 1:
        return np.where(x >= -b / a, np.maximum(a * x + b, 0) ** g, 0.0)
    if function == 2:
        return np.where(x >= -b / a, np.maximum(a * x + b, 0) ** g + c, c)
    if function == 3:
        return np.where(x >= d, np.maximum(a * x + b, 0) ** g, c * x)
    return np.where(x >= d, np.maximum(a * x + b, 0) ** g + e, c * x + f)
