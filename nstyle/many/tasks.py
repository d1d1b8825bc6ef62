"""The units of a batch: a ``Job`` (one input and where its result goes), the ``Task`` a
worker paints (a picture, or one frame of a video's shot), what comes back (``Painted``),
and a shot being painted frame after frame (``Chain``).

A video's finished frames are PNG files in a hidden folder beside its output
(``.<name>.frames/000001.png``) until the video is written. nstyle marks the folders it
makes (``FRAMES_MARKER``) and removes only those, and in them only its own frames
(``remove_frames``): nothing that nstyle did not write is replaced or removed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nstyle.config import Options
from nstyle.many.inputs import VIDEO, Item
from nstyle.many.manifest import Manifest
from nstyle.media import images, video

log = logging.getLogger("nstyle")

FRAMES_MARKER = ".nstyle-frames"  # in a frames folder: nstyle made it (see Job)
FRAME_FILE = re.compile(r"[0-9]{6}\.png|\.[0-9]{6}\.png\..*\.part")  # a frame, or one
# whose atomic write was cut short (files.replaced_atomically)


@dataclass
class Job:
    """One input and where its result goes."""

    item: Item
    output: Path
    key: str = ""  # the manifest key: input content and settings
    info: video.VideoInfo | None = None  # videos: what probe found

    @property
    def frames_folder(self) -> Path:
        """A video's finished frames, hidden beside it until the video is written. nstyle
        makes it with a ``FRAMES_MARKER`` file inside: a folder of that name without one
        is the user's, and nstyle neither writes into it nor removes it."""
        return self.output.parent / f".{self.output.name}.frames"

    def frame_path(self, index: int) -> Path:
        return self.frames_folder / f"{index + 1:06d}.png"

    def frames_folder_is_ours(self) -> bool:
        folder = self.frames_folder
        return not folder.is_symlink() and (folder / FRAMES_MARKER).is_file()

    def clash(self, manifest: Manifest) -> str | None:
        """Why this job would replace or remove what nstyle did not write (a file at its
        output, a frames folder of the user's), or None."""
        kept = "it is kept: move it away or choose another --output"
        if os.path.lexists(self.output) and not manifest.wrote(self.output):
            why = "exists and nstyle did not write it (or it was changed since)"
            return f"{self.output} {why}; {kept}"
        folder = self.frames_folder
        if self.item.kind == VIDEO and os.path.lexists(folder):
            if not self.frames_folder_is_ours():
                return f"{folder} exists and nstyle did not make it; {kept}"
        return None


def remove_frames(folder: Path) -> None:
    """Remove a frames folder nstyle made (``Job.frames_folder``): its frames, its
    marker, then the folder if nothing else is left in it (a file put there is kept)."""
    if folder.is_symlink() or not (folder / FRAMES_MARKER).is_file():
        return
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) and (
            entry.name == FRAMES_MARKER or FRAME_FILE.fullmatch(entry.name)
        ):
            os.unlink(entry.path)
    try:
        folder.rmdir()
    except OSError:
        log.warning("nstyle: warning: kept %s: it holds files nstyle did not write", folder)


def frame_size(frame: np.ndarray, options: Options) -> np.ndarray:
    """A picture shrunk to the output's size, as the painter would shrink it: what crosses
    to a worker is what it paints, not a 12-megapixel original. One to be enlarged goes as
    it is, smaller, and the painter enlarges it once its memory plan has said the output
    fits (enlarged here, a size no plan allows would take the driver's memory first)."""
    if max(frame.shape[:2]) <= options.max_long_edge:
        return frame
    return images.resize_long_edge(frame, options.max_long_edge)


@dataclass(frozen=True)
class Task:
    """What a worker paints: a picture (``frame`` None) or one frame of a video chain with
    the previous input frame and its styled result (None at the start of a shot); ``masks``:
    one per style image, where each painting goes (``Painter.paint``)."""

    job: int  # index of the job
    frame: int | None
    content: np.ndarray
    previous: np.ndarray | None = None
    previous_styled: np.ndarray | None = None
    masks: list[np.ndarray] | None = None


@dataclass(frozen=True)
class Painted:
    """``api.Result`` as it crosses from a Ray worker: the driver need not load MXNet.
    ``pixels``, the picture before rounding (float32 in 0..1), is what the driver writes,
    as for a picture painted in its own process (16 bits in a PNG or TIFF)."""

    image: np.ndarray
    epochs: int
    seconds: float
    reason: str
    pixels: np.ndarray | None = None


def paint_task(painter, task: Task, callback=None, masks=None):
    """Run one task on an ``api.Painter``: an ``api.Result``. ``masks``: the batch's, one
    set for every picture and frame, for a task without masks of its own."""
    masks = task.masks if task.masks is not None else masks
    if task.frame is None:
        return painter.paint(task.content, callback=callback, masks=masks)
    return painter.paint_frame(
        task.content, task.previous, task.previous_styled, callback=callback, masks=masks
    )


@dataclass
class Chain:
    """A shot of a video being painted frame after frame."""

    job: int
    frames: range
    next: int  # the next frame to paint
    previous_styled: np.ndarray | None = None  # the styled frame next - 1, if in the shot
    previous: np.ndarray | None = None  # the input frame next - 1, once read
    reader: Iterator[np.ndarray] | None = field(default=None, repr=False)

    @property
    def remaining(self) -> int:
        return self.frames.stop - self.next
