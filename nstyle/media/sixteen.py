"""16-bit RGB files: PNG and TIFF with 16 bits per channel, written from the optimiser's
float picture, with the colour profile and the EXIF tags embedded.

Pillow has no 16-bit RGB image, so the two files are put together here: a PNG's chunks
(IHDR, iCCP, eXIf, IDAT with the Sub filter, IEND) and a baseline TIFF (Deflate with the
horizontal predictor, strips of about 256 KiB; its directory by Pillow's own TIFF code, the
Exif and GPS directories included). Both are standard files that LibTIFF, libpng, Pillow,
OpenCV, Photoshop and GIMP read at 16 bits.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

LEVEL = 6  # zlib's default: most of the size at a fraction of the time of 9
STRIP_BYTES = 1 << 18  # about this many uncompressed bytes per TIFF strip / PNG block
CHUNK = 1 << 23  # an IDAT chunk's largest size
ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7


def as_sixteen(pixels: np.ndarray) -> np.ndarray:
    """Float RGB in 0..1 (or uint8) -> uint16 in 0..65535, rounded, clipped."""
    if pixels.dtype == np.uint8:
        return pixels.astype(np.uint16) * 257
    scaled = np.nan_to_num(pixels.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(np.round(scaled * 65535.0), 0, 65535).astype(np.uint16)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(pixels: np.ndarray, icc: bytes | None, exif: bytes | None) -> bytes:
    """uint16 RGB (H, W, 3) as a 16-bit PNG; ``exif``: an EXIF block (``Exif\\0\\0``...)."""
    h, w = pixels.shape[:2]
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))]
    if icc:
        parts.append(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc, LEVEL)))
    if exif:
        parts.append(_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")))
    packer = zlib.compressobj(LEVEL)
    compressed = []
    rows = max(1, STRIP_BYTES // (w * 6))
    for top in range(0, h, rows):
        block = np.ascontiguousarray(pixels[top : top + rows], ">u2")  # big-endian, as PNG
        raw = block.view(np.uint8).reshape(-1, w * 6)
        filtered = raw.copy()
        filtered[:, 6:] -= raw[:, :-6]  # Sub: each byte minus the one a pixel before (mod 256)
        lines = np.concatenate([np.ones((len(raw), 1), np.uint8), filtered], axis=1)
        compressed.append(packer.compress(lines.tobytes()))
    compressed.append(packer.flush())
    data = b"".join(compressed)
    parts += [_chunk(b"IDAT", data[at : at + CHUNK]) for at in range(0, len(data), CHUNK)]
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def tiff16(pixels: np.ndarray, icc: bytes | None, tags: dict[int, Any]) -> bytes:
    """uint16 RGB (H, W, 3) as a 16-bit TIFF, Deflate-compressed; ``tags``: EXIF tags of
    the first directory (``metadata.exif_tags``: the Exif and GPS directories as dicts)."""
    from PIL import TiffImagePlugin

    h, w = pixels.shape[:2]
    rows = max(1, STRIP_BYTES // (w * 6))
    strips = []
    for top in range(0, h, rows):
        block = pixels[top : top + rows]
        delta = block.copy()
        delta[:, 1:] -= block[:, :-1]  # the horizontal predictor, per channel (mod 2^16)
        strips.append(zlib.compress(delta.astype("<u2").tobytes(), LEVEL))
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")

    def put(tag: int, value: Any, kind: int | None = None) -> None:
        ifd[tag] = value
        if kind is not None:
            ifd.tagtype[tag] = kind

    for tag, value in tags.items():
        put(tag, value, LONG if isinstance(value, dict) else None)
    # the size, 3 x 16 bits, Deflate, RGB, 3 samples, chunky, the horizontal predictor
    for tag, value in ((258, (16, 16, 16)), (259, 8), (262, 2), (277, 3), (284, 1), (317, 2)):
        put(tag, value, SHORT)
    for tag, value in ((256, w), (257, h), (278, rows)):
        put(tag, value, LONG)
    for tag in (282, 283):  # 72 pixels per inch, as Pillow writes
        put(tag, TiffImagePlugin.IFDRational(72), RATIONAL)
    put(296, 2, SHORT)
    # Each strip's place after the directory (Pillow adds the directory's end to these).
    put(273, tuple(int(at) for at in np.cumsum([0] + [len(s) for s in strips[:-1]])), LONG)
    put(279, tuple(len(s) for s in strips), LONG)
    if icc:
        put(34675, icc, UNDEFINED)
    return b"II*\0" + struct.pack("<I", 8) + ifd.tobytes(8) + b"".join(strips)
