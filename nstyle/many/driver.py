"""The driver of a batch: which items are done already, which to paint, the tasks handed
to a runner, and every result written and recorded; only this process writes, so workers
need no shared file system.

Pictures are written as one painted alone is (``writing.write_picture``: the float picture,
16 bits in a PNG or TIFF, the photo's profile as ``Finish`` says and its metadata; the photo
read here, so a Ray worker's picture is written the same) and recorded in the output
folder's manifest under their job's key (the input's content and the settings that shape
the picture): a run of the same command paints only what is missing, changed, or painted
with other settings. Videos are ``VideoChains``'s. Nothing that nstyle did not write is
replaced or removed: a file at an output that the manifest does not vouch for, or a frames
folder without nstyle's marker, fails that item (``Job.clash``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nstyle.config import Options
from nstyle.errors import NStyleError, error_line
from nstyle.many.inputs import VIDEO
from nstyle.many.manifest import Manifest
from nstyle.many.progress import Progress
from nstyle.many.runners import Failure
from nstyle.many.tasks import Job, Task, frame_size
from nstyle.many.videos import VideoChains
from nstyle.media import images, writing
from nstyle.media.metadata import Source

log = logging.getLogger("nstyle")


@dataclass
class Summary:
    painted: int = 0  # items finished by this run
    skipped: int = 0  # items already finished and unchanged
    failed: list[NStyleError] = field(default_factory=list)  # their lines are printed
    seconds: float = 0.0


class Batch:
    """Runs ``jobs`` on a runner, writes and records every result (see the module's notes).
    The jobs' keys are set by the caller (``manifest.settings`` and ``manifest.item_key``)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        runner,
        options: Options,
        folder: Path,
        *,
        remove_noise: float = 0.0,
        max_pixels: int = images.MAX_IMAGE_PIXELS,
        quiet: bool = False,
        epoch_hook: Callable[[], None] | None = None,
        finish: writing.Finish | None = None,
    ):
        self.jobs, self.runner, self.options = list(jobs), runner, options
        self.manifest = Manifest(folder)
        self.finish = finish or writing.Finish(remove_noise=remove_noise)
        self.remove_noise, self.max_pixels, self.quiet = self.finish.remove_noise, max_pixels, quiet
        self.sources: dict[int, Source] = {}  # each picture's profile and metadata, till written
        self.epoch_hook = epoch_hook or (lambda: None)
        self.summary = Summary()
        self.failed: set[int] = set()
        self.progress: Progress | None = None
        self.videos = VideoChains(self)

    def run(self) -> Summary:
        began = time.perf_counter()
        pictures, total, done = self._plan()
        if self.summary.skipped:
            self.say(
                "%d of %d already done and unchanged (the manifest %s)",
                self.summary.skipped,
                len(self.jobs),
                self.manifest.path,
            )
        items_done = self.summary.skipped + self.summary.painted
        self.progress = Progress(total, done, len(self.jobs), items_done, self.quiet)
        try:
            if pictures or any(self.videos.chains.values()):
                self.say("painting %s", self.runner.start())
                self._drive(pictures)
        finally:
            self.progress.close()
            self.runner.close()
        self.summary.seconds = time.perf_counter() - began
        return self.summary

    def _plan(self) -> tuple[deque[int], int, int]:
        """The pictures to paint, and the units (pictures and frames) in all and done:
        finished items skipped, clashes failed, videos split into shots."""
        pictures: deque[int] = deque()
        total = done = 0
        for index, job in enumerate(self.jobs):
            self.epoch_hook()
            if self.manifest.is_done(job.key, job.output):
                self.summary.skipped += 1
                total += job.info.frames if job.info else 1
                done += job.info.frames if job.info else 1
                continue
            clash = job.clash(self.manifest)
            if clash is not None:
                self.fail(index, NStyleError(clash))
                continue
            if job.item.kind == VIDEO:
                try:
                    count, finished = self.videos.plan(index, job)
                except NStyleError as exc:
                    self.fail(index, exc)
                    continue
                total, done = total + count, done + finished
                if not self.videos.unfinished(index):  # every frame painted: only the file
                    self.videos.write_video(index)  # is missing
            elif self.writable(index):
                pictures.append(index)
                total += 1
        return pictures, total, done

    def writable(self, index: int) -> bool:
        """The picture of this photo can be written as asked (``writing.check_encodable``:
        its profile, its metadata), checked from the photo's header before any painting
        (``read_source``: no pixel decoded); else the item fails here, in one line."""
        job = self.jobs[index]
        try:
            source = images.read_source(job.item.path, self.max_pixels)
            writing.check_encodable(job.output, source, self.finish)
        except NStyleError as exc:
            self.fail(index, exc)
            return False
        return True

    def _drive(self, pictures: deque[int]) -> None:
        """Keep the runner's slots full, chains before pictures, until all is done."""
        chains = self.videos.queue()
        while chains or pictures or self.runner.busy:
            while (chains or pictures) and self.runner.busy < self.runner.slots:
                self.epoch_hook()
                if chains:
                    task = self.videos.next_frame(chains.popleft())
                else:
                    task = self._picture_task(pictures.popleft())
                if task is not None:
                    self.runner.submit(task)
            if not self.runner.busy:
                continue
            task, outcome = self.runner.next_done()
            self.epoch_hook()
            if task.frame is None:
                self._picture_done(task, outcome)
            else:
                chain = self.videos.frame_done(task, outcome)
                if chain is not None:
                    chains.appendleft(chain)

    def _picture_task(self, index: int) -> Task | None:
        job = self.jobs[index]
        try:
            content, source = images.read_photo(job.item.path, self.max_pixels)
            writing.check_encodable(job.output, source, self.finish)  # (changed since _plan)
        except NStyleError as exc:
            self.fail(index, exc)
            return None
        self.sources[index] = source
        return Task(index, None, frame_size(content, self.options))

    def _picture_done(self, task: Task, outcome: Any) -> None:
        job = self.jobs[task.job]
        source = self.sources.pop(task.job, None)
        if isinstance(outcome, Failure):
            self.fail(task.job, outcome.error)
            return
        picture = outcome.image if outcome.pixels is None else outcome.pixels
        try:
            writing.write_picture(job.output, picture, source, self.finish)
            self.manifest.record(job.key, job.output)
        except NStyleError as exc:
            self.fail(task.job, exc)
            return
        self.summary.painted += 1
        assert self.progress is not None
        self.progress.advance()
        self.progress.finished(job.output, outcome.seconds)

    def say(self, message: str, *args) -> None:
        """A line of the run's progress (none with ``quiet``)."""
        if self.progress is not None:
            self.progress.say(message, *args)
        elif not self.quiet:
            log.info(message, *args)

    def fail(self, index: int, error: NStyleError) -> None:
        """The item failed: its line (naming the input first), and no more of its work."""
        job = self.jobs[index]
        self.failed.add(index)
        self.videos.drop(index)
        if error.subject != job.item.path:
            error = error.restated(f"{job.item.path}: {error}")
        self.summary.failed.append(error)
        line = error_line("nstyle", str(error))
        if self.progress is not None and self.progress.bar is not None:
            self.progress.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)
