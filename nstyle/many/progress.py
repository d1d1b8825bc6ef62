"""What a batch shows while it runs: one bar over every picture and video frame on a
terminal, and a line per finished item."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from nstyle.errors import one_line

log = logging.getLogger("nstyle")


class Progress:
    """One bar over all units (a picture or a video frame) on a terminal, and a line per
    finished item; nothing with ``quiet``."""

    def __init__(self, total: int, done: int, items: int, items_done: int, quiet: bool):
        self.items, self.items_done, self.quiet = items, items_done, quiet
        self.bar: Any = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=done, unit="picture", dynamic_ncols=True, leave=False
            )

    def say(self, message: str, *args) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(one_line(message % args), file=sys.stderr)
        else:
            log.info(message, *args)

    def advance(self, units: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(units)

    def finished(self, output: Path, seconds: float, note: str = "") -> None:
        self.items_done += 1
        self.say("wrote %s (%d/%d, %.1f s%s)", output, self.items_done, self.items, seconds, note)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
