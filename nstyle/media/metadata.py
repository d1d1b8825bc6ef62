"""What a photo carries besides its pixels, and what of it goes into the painted picture.

Carried over: the capture date, the camera, the lens and its settings, the author and the
copyright (what a photographer's catalogue sorts by). Not carried: the orientation (the
pixels are already turned, so the picture says "as stored"), the location (GPS) unless
asked for, the maker's private notes, thumbnails and serial numbers. The input file is
never changed.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("nstyle")

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
ORIENTATION, SOFTWARE = 0x0112, 0x0131
# The first directory's tags: Make, Model, DateTime, Artist, Copyright.
MAIN_TAGS = (0x010F, 0x0110, 0x0132, 0x013B, 0x8298)
# The Exif directory's: exposure time, f-number, ISO, the capture dates, their time zones
# and fractions of seconds, exposure bias, focal length, flash, focal length (35 mm), the
# lens's specification, maker and model.
CAPTURE_TAGS = (
    (0x829A, 0x829D, 0x8827, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9204, 0x9209, 0x920A)
    + (0x9290, 0x9291, 0x9292, 0xA405, 0xA432, 0xA433, 0xA434)
)  # fmt: skip


@dataclass(frozen=True)
class Source:
    """A photo's colour profile and the metadata a picture painted from it may carry."""

    icc: bytes | None = None  # its ICC profile, as embedded (None: sRGB)
    main: dict[int, Any] = field(default_factory=dict)  # of MAIN_TAGS
    capture: dict[int, Any] = field(default_factory=dict)  # of CAPTURE_TAGS
    gps: dict[int, Any] = field(default_factory=dict)  # the location: only when asked

    @property
    def profile_name(self) -> str:
        from nstyle.media.colour import name_of

        return "sRGB" if self.icc is None else name_of(self.icc)


def source_of(img, where: object = "the photo", warn: bool = True) -> Source:
    """The profile and metadata of an opened Pillow image (nothing decoded but EXIF);
    unreadable EXIF is no metadata. Only what every output type can carry is kept
    (``writable``): a tag stored under another type than the standard's (DateTime as a
    number), or too long for a JPEG, is left out with one warning line naming ``where``
    (none when not ``warn``: a check whose reading comes later)."""
    icc = img.info.get("icc_profile") or None
    try:
        exif = img.getexif()
        main = {tag: exif[tag] for tag in MAIN_TAGS if tag in exif}
        found = exif.get_ifd(EXIF_IFD)
        capture = {tag: found[tag] for tag in CAPTURE_TAGS if tag in found}
        gps = dict(exif.get_ifd(GPS_IFD))
    except Exception:  # Pillow's EXIF parser raises many kinds on a broken block
        main, capture, gps = {}, {}, {}
    source, dropped = writable(Source(icc, main, capture, gps))
    if dropped and warn:
        log.warning(
            "nstyle: warning: %s: EXIF left out of the picture (the rest of its metadata is "
            "kept): %s",
            where,
            ", ".join(dropped),
        )
    return source


JPEG_EXIF_BYTES = 65533  # the most a JPEG's EXIF segment holds (Pillow's MAX_BYTES_IN_MARKER)
GROUPS = ("main", "capture", "gps")


def writable(source: Source) -> tuple[Source, list[str]]:
    """``source`` without the tags that cannot be written (each encoded alone, as
    ``exif_bytes`` writes it: Pillow writes a tag by the standard's type, and a value of
    another fails, e.g. a RATIONAL DateTime) and, biggest first, those that make the whole
    (with its location) too long for a JPEG; and the names of those left out."""
    from PIL import ExifTags

    kept: dict[str, dict[int, Any]] = {group: dict(getattr(source, group)) for group in GROUPS}
    dropped: list[str] = []

    def tags(groups: dict[str, dict[int, Any]]) -> Source:
        return Source(
            None, groups.get("main", {}), groups.get("capture", {}), groups.get("gps", {})
        )

    def name(group: str, tag: int) -> str:
        names = ExifTags.GPSTAGS if group == "gps" else ExifTags.TAGS
        return str(names.get(tag, f"tag 0x{tag:04x}"))

    for group in GROUPS:
        for tag, value in list(kept[group].items()):
            try:
                exif_bytes(tags({group: {tag: value}}), location=True)
            except Exception:  # Pillow's writers raise many kinds (AttributeError, struct.error)
                del kept[group][tag]
                dropped.append(f"{name(group, tag)} (stored as {kind(value)}: not its type)")
    while len(exif_bytes(tags(kept), location=True)) > JPEG_EXIF_BYTES:
        group, tag = max(
            ((g, t) for g in GROUPS for t in kept[g]), key=lambda k: len(repr(kept[k[0]][k[1]]))
        )
        del kept[group][tag]
        dropped.append(f"{name(group, tag)} (too long for a JPEG)")
    whole = tags(kept)
    return dataclasses.replace(
        source, main=whole.main, capture=whole.capture, gps=whole.gps
    ), dropped


def kind(value: Any) -> str:
    """What a tag's value is, in a word for a warning."""
    from numbers import Number

    if isinstance(value, (str, bytes)):
        return "text" if isinstance(value, str) else "bytes"
    return "a number" if isinstance(value, Number) else f"a {type(value).__name__}"


def exif_tags(source: Source | None, location: bool = False) -> dict[int, Any]:
    """The picture's EXIF: the first directory's tags, with the Exif (capture) and GPS
    directories as dicts under their tags: what a TIFF writes as it is."""
    tags: dict[int, Any] = {ORIENTATION: 1, SOFTWARE: "nstyle"}
    if source is None:
        return tags
    tags.update(source.main)
    if source.capture:
        tags[EXIF_IFD] = dict(source.capture)
    if location and source.gps:
        tags[GPS_IFD] = dict(source.gps)
    return tags


def exif_bytes(source: Source | None, location: bool = False) -> bytes:
    """``exif_tags`` as an EXIF block (``Exif\\0\\0`` and a TIFF structure), as JPEG, PNG,
    WebP and AVIF files embed it."""
    from PIL import Image

    exif = Image.Exif()
    for tag, value in exif_tags(source, location).items():
        if isinstance(value, dict):
            exif.get_ifd(tag).update(value)
        else:
            exif[tag] = value
    return exif.tobytes()
