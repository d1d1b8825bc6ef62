"""Whether the result can be written as asked, known before any work: the command line
(``nstyle.cli.inputs.check_result``) and the web app (at upload) share this one check."""

from __future__ import annotations

import numpy as np

from nstyle.errors import NStyleError, squeezed
from nstyle.media import colour, images
from nstyle.media.metadata import Source


def check_encodes(fmt: str, source: Source | None, profile: str, location: bool, what: str) -> None:
    """Refuse, in one line, a result that could not be written: with ``profile="photo"``
    the photo's profile must take the picture back (``what`` names the photo), and a small
    picture must encode as ``fmt`` with that profile and the photo's metadata, as the result
    will. A failure of the encoder itself (Pillow's writers and numpy raise many kinds) is
    an ``NStyleError`` whose ``unwritable`` field is ``fmt``."""
    if profile == "photo" and source is not None and source.icc is not None:
        colour.matrix_shaper(source.icc, what)
    try:
        images.encode(
            np.zeros((8, 8, 3), np.float32), fmt, source=source, profile=profile,
            location=location,
        )  # fmt: skip
    except NStyleError:
        raise
    except Exception as exc:
        raise NStyleError(
            f"nstyle cannot write a picture as {fmt} ({squeezed(exc)})", unwritable=fmt
        ) from None
