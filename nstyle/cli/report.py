"""What a command-line run shows and writes while it works: a progress bar, loss lines,
a CSV log and ``tmp_<epoch>.jpg`` snapshots. The library only calls back with ``Iterate``."""

from __future__ import annotations

import csv
import dataclasses
import logging
import sys
from pathlib import Path
from typing import IO, Any

from nstyle.api import Iterate
from nstyle.config import Outputs
from nstyle.errors import NStyleError
from nstyle.files import snapshot_name
from nstyle.media import images

log = logging.getLogger("nstyle")


class Reporter:
    """The per-epoch callback of a command-line run; use as a context manager."""

    def __init__(self, outputs: Outputs, folder: Path, max_epochs: int):
        self.outputs, self.folder = outputs, folder
        self.last: Iterate | None = None
        self._printed = (0, 0.0)  # (epoch, elapsed) of the last printed line
        self._bar: Any = None
        if not outputs.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=max_epochs, unit="epoch", dynamic_ncols=True, leave=False)
        self._csv_file: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._csv_file is not None:
            self._csv_file.close()

    def say(self, message: str, *args) -> None:
        if self.outputs.quiet:
            return
        if self._bar is not None:
            self._bar.write(message % args, file=sys.stderr)
        else:
            log.info(message, *args)

    def __call__(self, it: Iterate) -> None:
        self.last = it
        if self.outputs.log:
            self._write_csv(it)
        if self._bar is not None:
            self._bar.update(1)
        every = self.outputs.print_every
        # Losses are read from the device only here (and for the log): the first-order
        # loop itself synchronises every --check-every epochs.
        if every and (it.epoch == 1 or it.epoch % every == 0):
            if self._bar is not None:
                self._bar.set_postfix(
                    style=f"{it.style_loss:.3g}",
                    content=f"{it.content_loss:.3g}",
                    change=f"{it.rel_change:.2e}",
                    refresh=False,
                )
            scale = f"  scale {it.scale[0]}/{it.scale[1]}" if it.scale[1] > 1 else ""
            lr = "" if it.lr != it.lr else f"  lr {it.lr:.2e}"  # L-BFGS has none (nan)
            # the rate since the last line: epochs of a finer scale cost more
            epoch, elapsed = self._printed
            rate = (it.elapsed - elapsed) / max(1, it.epoch - epoch)
            self._printed = (it.epoch, it.elapsed)
            self.say(
                "epoch %4d  style %.4g  content %.4g  change %.2e%s  %.2f s/epoch%s",
                it.epoch,
                it.style_loss,
                it.content_loss,
                it.rel_change,
                lr,
                rate,
                scale,
            )
        if self.outputs.save_epochs and it.epoch % self.outputs.save_epochs == 0:
            path = self.folder / snapshot_name(it.epoch)
            try:
                images.write_image(path, images.denoise(it.picture(), self.outputs.remove_noise))
            except NStyleError as exc:  # a snapshot is a convenience: the run goes on
                log.warning("nstyle: warning: %s; the run goes on", exc)
            else:
                self.say("saved %s", path)

    def _write_csv(self, it: Iterate) -> None:
        if self._csv_file is None:  # opened at the first epoch: nothing truncated before
            path = Path(self.outputs.log or "")
            try:
                self._csv_file = open(path, "w", newline="")
            except OSError as exc:
                raise NStyleError(f"cannot write the log {path} ({exc.strerror or exc})") from None
            self._csv = csv.writer(self._csv_file)
            self._csv.writerow(["epoch", "seconds", "lr", "rel_change", "total", *it.losses])
        try:
            self._csv.writerow(
                [
                    it.epoch,
                    f"{it.elapsed:.3f}",
                    f"{it.lr:.6g}",
                    f"{it.rel_change:.6g}",
                    f"{sum(it.losses.values()):.6g}",
                    *(f"{v:.6g}" for v in it.losses.values()),
                ]
            )
            self._csv_file.flush()
        except OSError as exc:  # a full disk: the log stops, the run goes on
            log.warning(
                "nstyle: warning: cannot write the log %s (%s); the run goes on without it",
                self.outputs.log,
                exc.strerror or exc,
            )
            try:
                self._csv_file.close()
            except OSError:
                pass
            self._csv_file = None
            self.outputs = dataclasses.replace(self.outputs, log=None)
