"""A photographer's files, made by the tests: ICC profiles of wide-gamut spaces and phone-
and camera-style photos (HEIC, AVIF, JPEG) that carry them with their EXIF tags.

The profiles are minimal ICC v2 matrix/TRC profiles built here from each space's published
primaries and white point (Display P3: SMPTE EG 432-1 with D65 and sRGB's curve; Adobe RGB
(1998): its specification, gamma 563/256), the colorants adapted to the D50 of the ICC's
connection space by Bradford, as LittleCMS and Apple build theirs. A hand-built sRGB checks
the builder against LittleCMS's own sRGB (tests/test_files_photo.py); nothing is installed
from the system.
"""

from __future__ import annotations

import io
import struct

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])
BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
D65_XY = (0.3127, 0.3290)
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)  # ICC para type 3
SPACES = {
    "Display P3": (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), SRGB_CURVE),
    "Adobe RGB (1998)": (((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)), 563 / 256),
    "sRGB (test)": (((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), SRGB_CURVE),
}


def colorants(primaries, white=D65_XY) -> np.ndarray:
    """Linear RGB -> XYZ (D50) of a space given by its primaries and white (xy): each
    column one primary's XYZ, adapted from the white to D50 by Bradford."""
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    white_xyz = np.array([white[0] / white[1], 1.0, (1 - sum(white)) / white[1]])
    matrix = xyz * np.linalg.solve(xyz, white_xyz)  # the primaries scaled to sum to white
    cones = BRADFORD @ D50 / (BRADFORD @ white_xyz)
    adapt = np.linalg.solve(BRADFORD, np.diag(cones) @ BRADFORD)
    return adapt @ matrix


def _s15(values) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _tag(kind: bytes, body: bytes) -> bytes:
    data = kind + b"\0\0\0\0" + body
    return data + b"\0" * (-len(data) % 4)


def _curve(curve) -> bytes:
    if isinstance(curve, tuple):  # parametric, ICC v4's para (LittleCMS reads it in v2)
        return _tag(b"para", struct.pack(">HH", 3, 0) + _s15(curve))
    return _tag(b"curv", struct.pack(">IH", 1, round(curve * 256)))


def _text(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return _tag(b"desc", struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * (8 + 3 + 67))


def icc_profile(name: str) -> bytes:
    """The ICC v2 display profile of ``SPACES[name]``, as bytes."""
    primaries, curve = SPACES[name]
    matrix = colorants(primaries)
    trc = _curve(curve)
    tags = [
        (b"desc", _text(name)),
        (b"cprt", _tag(b"text", b"No copyright, made by nstyle's tests\0")),
        (b"wtpt", _tag(b"XYZ ", _s15(D50))),
        (b"rXYZ", _tag(b"XYZ ", _s15(matrix[:, 0]))),
        (b"gXYZ", _tag(b"XYZ ", _s15(matrix[:, 1]))),
        (b"bXYZ", _tag(b"XYZ ", _s15(matrix[:, 2]))),
    ]
    tags += [(signature, trc) for signature in (b"rTRC", b"gTRC", b"bTRC")]
    return _profile(tags, b"mntr", b"RGB ", b"XYZ ")


def _profile(tags, kind: bytes, space: bytes, connection: bytes) -> bytes:
    """An ICC v2 profile of ``tags`` ((signature, data) pairs; equal data stored once)."""
    offset = 128 + 4 + 12 * len(tags)
    table, data, placed = [], b"", {}
    for signature, body in tags:
        if body not in placed:
            placed[body] = offset + len(data)
            data += body
        table.append(signature + struct.pack(">II", placed[body], len(body)))
    body = struct.pack(">I", len(table)) + b"".join(table) + data
    size, version = 128 + len(body), 0x02100000
    header = struct.pack(">I4sI4s4s4s", size, b"none", version, kind, space, connection)
    header += struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24
    header += struct.pack(">I", 0) + _s15(D50) + b"\0" * 48
    assert len(header) == 128
    return header + body


def cmyk_profile() -> bytes:
    """A small press profile (ICC v2, CMYK to Lab by a 2-point table) that sees the inks
    rotated: cyan ink looks yellow, magenta cyan, yellow magenta. A reader that applies it
    and one that does Pillow's naive conversion (cyan stays cyan) disagree at a glance."""
    from skimage.color import rgb2lab

    corners = []
    for c, m, y, k in np.ndindex(2, 2, 2, 2):  # the first channel varies slowest
        rgb = np.array([1 - m, 1 - y, 1 - c], float) * (1 - k)
        lab = rgb2lab(rgb[None, None], illuminant="D50")[0, 0]
        corners += [round(lab[0] * 2.55), round(lab[1]) + 128, round(lab[2]) + 128]
    identity = bytes(range(256))
    table = struct.pack(">BBBB", 4, 3, 2, 0) + _s15([1, 0, 0, 0, 1, 0, 0, 0, 1])
    table += identity * 4 + bytes(np.clip(corners, 0, 255).astype(np.uint8)) + identity * 3
    tags = [(b"desc", _text("rotated inks")), (b"wtpt", _tag(b"XYZ ", _s15(D50)))]
    tags.append((b"A2B0", _tag(b"mft1", table)))
    return _profile(tags, b"prtr", b"CMYK", b"Lab ")


def in_profile(srgb: np.ndarray, name: str) -> np.ndarray:
    """sRGB uint8 pixels as LittleCMS puts them in the profile ``name`` (colorimetric), uint8:
    the numbers a camera writes in that space for those colours."""
    from PIL import Image, ImageCms

    from nstyle.media.colour import srgb_profile

    target = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile(name)))
    source = ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile()))
    image = ImageCms.profileToProfile(
        Image.fromarray(srgb), source, target,
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )  # fmt: skip
    return np.asarray(image)


def exif(orientation: int = 1, gps: bool = True) -> bytes:
    """A phone's EXIF: maker, model, capture date and time zone, lens, and a location."""
    from PIL import Image

    tags = Image.Exif()
    tags[0x010F], tags[0x0110], tags[0x0112] = "Apple", "iPhone 15 Pro", orientation
    tags[0x0132] = "2024:05:01 10:11:12"
    capture = tags.get_ifd(0x8769)
    capture[0x9003], capture[0x9011] = "2024:05:01 10:11:12", "+02:00"
    capture[0xA433], capture[0xA434] = "Apple", "iPhone 15 Pro back camera 6.765mm f/1.78"
    if gps:
        location = tags.get_ifd(0x8825)
        location[1], location[2] = "N", (48.0, 51.0, 29.0)
        location[3], location[4] = "E", (2.0, 17.0, 40.0)
    return tags.tobytes()


def save(path, pixels: np.ndarray, fmt: str, icc: bytes | None = None, **options) -> None:
    """``pixels`` (uint8 RGB) as a ``fmt`` file (Pillow's name; HEIF through pillow-heif)."""
    from PIL import Image

    from nstyle.media import images

    images.plugins()
    extra = {"icc_profile": icc} if icc else {}
    Image.fromarray(pixels).save(path, format=fmt, **extra, **options)


def raw_exif(entries, *, cut: int = 0) -> bytes:
    """An EXIF block (little-endian TIFF) whose first directory holds ``entries`` as given:
    (tag, type, count, payload bytes), the types unchecked, as a careless camera or editor
    writes them (DateTime as a RATIONAL); ``cut``: bytes cut off its end (a truncated tag)."""
    at = 8 + 2 + 12 * len(entries) + 4  # where the values too long for an entry go
    table, data = b"", b""
    for tag, kind, count, payload in entries:
        if len(payload) <= 4:
            value = payload.ljust(4, b"\0")
        else:
            value, data = (
                struct.pack("<I", at + len(data)),
                data + payload + b"\0" * (len(payload) % 2),
            )
        table += struct.pack("<HHI", tag, kind, count) + value
    tiff = b"II*\0" + struct.pack("<IH", 8, len(entries)) + table + b"\0\0\0\0" + data
    return b"Exif\0\0" + tiff[: len(tiff) - cut]


ASCII, SHORT, RATIONAL = 2, 3, 5


def text(value: str) -> tuple[int, int, bytes]:
    """A TIFF ASCII value: (type, count, payload)."""
    raw = value.encode() + b"\0"
    return ASCII, len(raw), raw
