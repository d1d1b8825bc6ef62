"""One app's state: its worker, its working folder, its limits, and a job's intake.

A new job's form is read (``guard.read_form``), its options parsed and checked as the
command line checks its flags, and each picture decoded by ``nstyle.media.images.read_image``
(each mask by ``read_mask``) from a file of a random name in the server's own working
folder, one at a time and no larger than the job needs. The folder is made when the server
is, made again if it is removed while the server runs, and removed when the server closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import Request

from nstyle import config
from nstyle.engine.plan import style_edge
from nstyle.errors import NStyleError
from nstyle.media import images, segmentation, writing
from nstyle.media.metadata import Source
from nstyle.web import options as fields
from nstyle.web.form import SEGMENTATIONS, Uploads, split_form
from nstyle.web.guard import MAX_UPLOAD, STALLED, read_form, sanitized
from nstyle.web.jobs import Job, QueueFull, Stopping, Worker, log
from nstyle.web.options import Settings
from nstyle.web.refusals import STOPPING, Refused, status_of

HELD = (signal.SIGINT, signal.SIGTERM)  # the signals that stop the server


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM noted inside, not raised, then raised when it ends (in the main
    thread, where Python runs its handlers; blocking them there would not do: another
    thread takes the signal and the main thread's handler still runs)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    noted = {sig: signal.signal(sig, lambda n, _: caught.append(n)) for sig in HELD}
    try:
        yield
    finally:
        for sig, handler in noted.items():
            signal.signal(sig, handler)
        for number in caught[:1]:
            signal.raise_signal(number)


class Server:
    """The worker, the working folder (``workdir``, made here when none is given), the
    limits of an upload, and the event a signal sets to stop the server."""

    def __init__(
        self,
        worker: Worker,
        workdir: Path | None = None,
        *,
        max_upload: int = MAX_UPLOAD,
        max_pixels: int = images.MAX_IMAGE_PIXELS,
        stalled: float = STALLED,
    ):
        self.worker, self.stalled = worker, stalled
        self.own = workdir is None  # the folder is ours to remove
        self.workdir = Path(tempfile.mkdtemp(prefix="nstyle-web-")) if workdir is None else workdir
        self.max_upload, self.max_pixels = max_upload, max_pixels
        self.decoding = threading.Lock()  # one picture decoded at a time: bounded memory
        self.folder = threading.Lock()  # guards ``workdir`` and the upload's file in it
        self.stopping = threading.Event()  # set when a signal stops the server
        self.closed = False

    def start(self) -> None:
        self.worker.start()

    def close(self) -> None:
        """Stop the worker (the running job's epoch ends; a second Ctrl-C ends the wait),
        then remove the folder, with Ctrl-C and SIGTERM held until it is gone: a signal
        landing in the removal left the folder behind. (Held, not lost: it is raised after.)"""
        try:
            self.worker.stop()
        finally:
            with signals_held():
                self.remove_folder()

    def job(self, job_id: str) -> Job:
        job = self.worker.get(job_id)
        if job is None:
            raise Refused(404, "no such job (the id is unknown, or the job was forgotten)")
        return job

    def status(self, job: Job) -> dict[str, Any]:
        return {**job.status(), "position": self.worker.position(job)}

    # ------------------------------------------------------------ a new job
    async def new_job(self, request: Request) -> Job:
        """A job from a POST's form, queued; refused with the status of what is wrong."""
        form = await read_form(request, self.max_upload, self.stalled, self.stopping)
        try:
            uploads, values = split_form(form)
            settings = self.settings(values, len(uploads["style"]))
            if uploads[SEGMENTATIONS[0]] and settings.options.style_blend_weights is not None:
                raise Refused(400, "content_segmentation: not with style_blend_weights")
            if not self.worker.has_room():  # before decoding anything
                raise QueueFull("the queue is full; try again when a job has finished")
            decoded, names = await self.read_pictures(uploads, settings.options)
            pictures, source = [picture for picture, _ in decoded], decoded[0][1]
            self.check_profile(settings, source, names[0] or "content")
            masks, mask_names = await self.read_masks(uploads["mask"], pictures[0].shape)
            regions, seg_names = await self.read_segmentations(uploads, pictures)
            if regions is None:
                await self.in_thread(self.check_plan, settings, pictures, masks)
            else:  # each label a region, the reference once per label
                planned = [pictures[0], *regions.styles]
                await self.in_thread(self.check_plan, settings, planned, list(regions.masks))
        finally:
            await form.close()
        if self.stopping.is_set():
            raise Refused(503, STOPPING)
        named: dict[str, Any] = {"content": names[0], "styles": names[1:]}
        if masks:
            named["masks"] = mask_names
        job = Job(settings, pictures[0], pictures[1:], named, masks=masks or None, source=source)
        if regions is not None:
            named.update(segmentations=seg_names, regions=len(regions.styles))
            named["unmatched"] = ["#" + bytes(rgb).hex() for rgb in regions.orphans]
            job.styles, job.masks, job.style_masks = (
                regions.styles, list(regions.masks), list(regions.style_masks)
            )  # fmt: skip
        try:
            return self.worker.submit(job)
        except Stopping as exc:  # (a full queue goes to its own handler: 429, retry-after)
            raise Refused(status_of(exc, 400), str(exc)) from None

    @staticmethod
    def check_profile(settings: Settings, source: Source, label: str) -> None:
        """The picture can be written as the settings ask (the photo's profile, its
        metadata): the command line's own check (``media.writing.check_encodable``), at
        upload."""
        finish = writing.Finish(settings.profile, settings.location)
        try:
            writing.check_encodable("x.jpg", source, finish, f"output_profile=photo: {label}")
        except NStyleError as exc:
            raise Refused(400, str(exc)) from None

    def check_plan(
        self, settings: Settings, pictures: list[np.ndarray], masks: list[np.ndarray]
    ) -> None:
        """What the job's memory plan refuses, refused now with its line (``Worker.plan``:
        the command line's check, from the model's table, not the worker's network)."""
        distinct: list[np.ndarray] = []  # masks alike make one region (``guides.regions``)
        for mask in masks:
            if not any(np.array_equal(mask, seen) for seen in distinct):
                distinct.append(mask)
        count = len(distinct)
        options = settings.options
        if options.photo and not masks and len(pictures) == 2 and options.photo_regions > 1:
            count = options.photo_regions  # photo to photo's automatic regions, at most
        shapes = [picture.shape for picture in pictures]
        try:
            self.worker.plan(settings, shapes[0], shapes[1:], count)
        except NStyleError as exc:
            raise Refused(status_of(exc, 400), str(exc)) from None

    async def read_pictures(
        self, uploads: Uploads, options: config.Options
    ) -> tuple[list[tuple[np.ndarray, Source]], list[str]]:
        """The photo and the paintings (each with its profile and metadata), decoded one
        at a time, and their names."""
        files = uploads["content"] + uploads["style"]
        names = [sanitized(u.filename) for u in files]
        labels = [name or "content" for name in names[:1]] + [
            name or f"style {i}" for i, name in enumerate(names[1:], 1)
        ]
        edges = [options.max_long_edge] + [style_edge(options)] * len(uploads["style"])
        pictures = [
            await self.read_upload(upload, self.decode, label, edge)
            for upload, label, edge in zip(files, labels, edges)
        ]
        return pictures, names

    async def read_masks(
        self, uploads: list[UploadFile], shape: tuple[int, ...]
    ) -> tuple[list[np.ndarray], list[str]]:
        """The masks (one per painting, or none), decoded one at a time, and their names."""
        names = [sanitized(u.filename) for u in uploads]
        masks = [
            await self.read_upload(upload, self.decode_mask, name or f"#{i}", shape)
            for i, (upload, name) in enumerate(zip(uploads, names), 1)
        ]
        return masks, names

    async def read_segmentations(
        self, uploads: Uploads, pictures: list[np.ndarray]
    ) -> tuple[segmentation.Regions | None, list[str]]:
        """The two label images (or none) as the job's regions, by the command line's
        ``segmentation.regions``: each decoded by its reader and its guards and made no
        larger than its picture, then matched by colour (in a thread: seconds at most)."""
        if not uploads[SEGMENTATIONS[0]]:
            return None, []
        files = [uploads[name][0] for name in SEGMENTATIONS]
        names = [sanitized(u.filename) for u in files]
        labels = [f"{kind} {name}".rstrip() for kind, name in zip(SEGMENTATIONS, names)]
        read = [
            await self.read_upload(upload, self.decode_segmentation, label, picture.shape)
            for upload, label, picture in zip(files, labels, pictures)
        ]
        try:
            found = await self.in_thread(
                segmentation.regions, read[0], read[1], pictures[1], None, tuple(labels)
            )
        except NStyleError as exc:
            raise Refused(status_of(exc, 400), str(exc)) from None
        return found, names

    async def read_upload(self, upload: UploadFile, decode: Callable[..., Any], *args: Any) -> Any:
        """One upload, read and given to ``decode(data, *args)`` in a thread."""
        if self.stopping.is_set():
            raise Refused(503, STOPPING)
        data = await upload.read()
        return await self.in_thread(decode, data, *args)

    def settings(self, values: list[tuple[str, str]], styles: int) -> Settings:
        """The form's text as checked settings, with the command line's messages."""
        try:
            settings = fields.parse(values, self.worker.defaults, self.worker.fallback)
            config.check_styles(settings.options, styles)
        except NStyleError as exc:
            raise Refused(status_of(exc, 400), str(exc)) from None
        return settings

    def decode(self, data: bytes, label: str, edge: int) -> tuple[np.ndarray, Source]:
        """An upload as sRGB uint8 and its profile and metadata, by the command line's reader
        and its guards, made no larger than the job needs (a long edge of ``edge``: what the
        run would resize it to), so that waiting jobs hold no more memory than that. One at
        a time."""
        with self.decoding:
            with self.folder:
                picture, source = self._read(data, label, images.read_photo)
            try:  # what the run would refuse at once: a side under the minimum
                images.long_edge_shape(picture.shape, edge)
            except NStyleError as exc:
                raise Refused(status_of(exc, 400), str(exc)) from None
            if max(picture.shape[:2]) > edge:
                picture = images.resize_long_edge(picture, edge)
            return picture, source

    def decode_mask(self, data: bytes, label: str, shape: tuple[int, ...]) -> np.ndarray:
        """A mask upload as greyscale uint8, by the command line's reader and its guards
        (an alpha channel, 16 bits, black everywhere: refused), made no larger than the
        photo of ``shape`` (the painter resizes it to the photo). One at a time."""
        with self.decoding:
            with self.folder:
                mask = self._read(data, label, images.read_mask)
            if mask.size > shape[0] * shape[1]:
                mask = images.resize_to(mask, shape[:2])
                if not mask.any():
                    raise Refused(
                        400,
                        f"mask {label}: nothing of it is left at the photo's size "
                        f"({shape[1]}x{shape[0]}): make its white region larger",
                    )
            return mask

    def decode_segmentation(self, data: bytes, label: str, shape: tuple[int, ...]) -> np.ndarray:
        """A label image as sRGB uint8 by the command line's reader and its guards (not an
        image, an alpha channel, 16 bits, a photo's many colours: 415), refused (400) when
        its aspect is not its picture's, and made no larger than the picture of ``shape``
        (nearest neighbour: no new colours). One at a time."""
        what, _, name = label.partition(" ")
        with self.decoding:
            with self.folder:
                read = functools.partial(segmentation.read_segmentation, what=what)
                labels = self._read(data, name or what, read)
            try:
                segmentation.check_aspect(labels.shape, shape, label)
            except NStyleError as exc:
                raise Refused(status_of(exc, 400), str(exc)) from None
            if labels.shape[0] * labels.shape[1] > shape[0] * shape[1]:
                nearest = Image.Resampling.NEAREST
                labels = np.asarray(Image.fromarray(labels).resize((shape[1], shape[0]), nearest))
            return labels

    async def in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in a thread of its own, given up (503) when the server stops:
        a stop waits neither for a decode nobody will use nor for a thread of a pool (the
        thread is a daemon, and writes no file once the folder is removed)."""
        done: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(function(*args))
            except BaseException as exc:
                done.set_exception(exc)

        threading.Thread(target=run, name="nstyle-decode", daemon=True).start()
        while not done.done():
            if self.stopping.is_set():
                raise Refused(503, STOPPING)
            await asyncio.sleep(0.02)
        return done.result()

    # ------------------------------------------------------------ the working folder
    def _read(self, data: bytes, label: str, read: Callable[..., Any] = images.read_image) -> Any:
        """``data`` decoded by ``read`` (``read_image`` or ``read_mask``) from a file of our
        folder, removed after; errors name ``label``."""
        if self.closed:
            raise Refused(503, STOPPING)
        path = self.workdir / f"upload-{secrets.token_hex(16)}"
        try:
            fd, path = self._open(path)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return read(path, self.max_pixels)
        except NStyleError as exc:
            message = str(exc).replace(str(path), label)
            raise Refused(status_of(exc, 415), message) from None
        except OSError as exc:  # a full disk, a temporary folder removed
            raise Refused(
                503, f"the server cannot write its temporary file ({exc.strerror or exc})"
            ) from None
        finally:
            path.unlink(missing_ok=True)

    def _open(self, path: Path) -> tuple[int, Path]:
        """A new file at ``path`` to write, or of its name in a new folder of our own when
        the folder was removed: its descriptor and its path."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:  # the folder was removed: a new one of our own
            if self.closed:  # by ``remove_folder``: the server is stopping, none is left
                raise Refused(503, STOPPING) from None
            self.workdir, self.own = Path(tempfile.mkdtemp(prefix="nstyle-web-")), True
            log.warning("nstyle.web: warning: %s was removed; now %s", path.parent, self.workdir)
            path = self.workdir / path.name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return fd, path

    def remove_folder(self, timeout: float = 10.0) -> None:
        """Remove the working folder (when it is ours) once no upload is in it; later
        uploads are refused."""
        got = self.folder.acquire(timeout=timeout)
        try:
            self.closed = True
            if self.own:
                shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            if got:
                self.folder.release()
