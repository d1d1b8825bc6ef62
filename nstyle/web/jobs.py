"""The jobs and the worker thread that runs them, one at a time, on one device.

A job is submitted with its pictures already decoded and its settings checked; it waits in
a bounded queue (``QueueFull`` past ``max_waiting``), runs in the worker thread through
``nstyle.many.runners.Local`` (as a batch's pictures do; with its masks, where each painting
goes, when it has them), and keeps its current picture (a JPEG, renewed every
``preview_seconds``), epoch and losses for the page to fetch.
Cancelling a running job raises ``Cancelled`` from the per-epoch callback; ``Local`` lets it
through. All MXNet work, weight loading included, happens in the worker thread.
"""

from __future__ import annotations

import collections
import logging
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nstyle import api, config, devices
from nstyle.engine.footprint import Footprint
from nstyle.engine.plan import plan_pictures
from nstyle.errors import Diverged, NStyleError, TooLarge, one_line
from nstyle.many.runners import Failure, Local
from nstyle.many.tasks import Task
from nstyle.media import images, sixteen
from nstyle.media.metadata import Source
from nstyle.spec import MODELS
from nstyle.web.options import Settings

log = logging.getLogger("nstyle.web")

FINAL = ("done", "failed", "cancelled")
# The finished pictures kept for 16-bit downloads (6 bytes a pixel), newest first, at most
# this many bytes together; an older job keeps its JPEG only.
KEEP_FINALS = 512 * 2**20
RELEASED = {
    "content": None,
    "styles": None,
    "masks": None,
    "style_masks": None,
}  # a job's pictures, once it has run


class Cancelled(Exception):
    """Raised from the per-epoch callback to stop a job that was cancelled."""


class QueueFull(NStyleError):
    """No room in the queue for another job (HTTP 429)."""


class Stopping(NStyleError):
    """The server is stopping and takes no job (HTTP 503)."""


def new_id() -> str:
    """An unguessable job id: 128 random bits."""
    return secrets.token_urlsafe(16)


def bug(exc: BaseException) -> str:
    """An unexpected exception in one line for the log: what, and where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return one_line(f"{exc!r}{where}")


@dataclass(eq=False)
class Job:
    settings: Settings
    content: np.ndarray | None  # released once the job has run
    styles: list[np.ndarray] | None
    names: dict[str, Any] = field(default_factory=dict)  # the uploads' names, for the page
    masks: list[np.ndarray] | None = None  # one greyscale (H, W) per style image, or none
    style_masks: list[np.ndarray | None] | None = None  # where on each style image
    source: Source | None = None  # the photo's colour profile and metadata
    id: str = field(default_factory=new_id)
    created: float = field(default_factory=time.time)
    state: str = "queued"
    epoch: int = 0
    scale: tuple[int, int] = (1, 1)
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    error: str | None = None
    reason: str | None = None  # why the optimisation stopped
    network: str | None = None
    picture: bytes | None = None  # JPEG: the current picture, then the final one
    final: np.ndarray | None = None  # the final picture, uint16 (uint8 when diverged)
    dropped: bool = False  # ``final`` let go (``Worker.keep_finals``): the JPEG stays
    size: tuple[int, int] | None = None  # the picture's (width, height)
    version: int = 0  # counts the pictures shown; changes with ``picture``
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def max_epochs(self) -> int:
        return config.total_epochs(self.settings.options)  # over all scales, as the CLI

    def update(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, value)

    def show(self, picture: np.ndarray, quality: int = 90) -> None:
        data = images.encode(picture, "JPEG", quality)
        with self.lock:
            self.picture, self.version = data, self.version + 1
            self.size = (int(picture.shape[1]), int(picture.shape[0]))

    def keep(self, picture: np.ndarray) -> None:
        """The final picture: kept for the downloads, shown as the JPEG the command line
        would write (the photo's profile and metadata, as the settings say)."""
        data = self.encode(picture, "JPEG")
        if picture.dtype != np.uint8:  # 16 bits are all a file takes: half a float's bytes
            picture = sixteen.as_sixteen(picture)
        with self.lock:
            self.final, self.picture, self.version = picture, data, self.version + 1
            self.size = (int(picture.shape[1]), int(picture.shape[0]))

    def encode(self, picture: np.ndarray, fmt: str) -> bytes:
        """``picture`` as a file of ``fmt`` (JPEG, PNG or TIFF), as the command line writes
        it: the colour profile and metadata the settings ask for, PNG and TIFF at 16 bits."""
        settings = self.settings
        return images.encode(
            picture, fmt, 95, source=self.source, profile=settings.profile,
            location=settings.location,
        )  # fmt: skip

    def status(self) -> dict[str, Any]:
        """What ``GET /api/jobs/{id}`` answers."""
        with self.lock:
            return {
                "id": self.id,
                "state": self.state,
                "epoch": self.epoch,
                "max_epochs": self.max_epochs,
                "scale": list(self.scale),
                "losses": dict(self.losses),
                "elapsed": round(self.elapsed, 3),
                "error": self.error,
                "reason": self.reason,
                "network": self.network,
                "picture": self.version,
                "size": list(self.size) if self.size else None,
                "names": self.names,
                "created": self.created,
            }


class Worker:
    """The job registry, the bounded queue and the thread that works through it.
    ``load_weights(options, fallback=...)`` gives a job's network, loaded once per model
    and fallback (the real ones by default; a test may give small ones)."""

    def __init__(
        self,
        ctx: Any,
        *,
        max_waiting: int = 4,
        keep: int = 100,
        keep_finals: int = KEEP_FINALS,
        preview_seconds: float = 0.5,
        preload: bool = False,
        defaults: config.Options = config.Options(),
        fallback: str | None = "vgg16",
        load_weights: Callable[..., Any] = api.load_weights,
    ):
        self.ctx = ctx
        self.max_waiting, self.keep, self.preview_seconds = max_waiting, keep, preview_seconds
        self.keep_finals = keep_finals
        self.preload, self.defaults, self.fallback = preload, defaults, fallback
        self.local = Local(ctx, load_weights=load_weights)  # paints as the batch path does
        self.jobs: dict[str, Job] = {}  # oldest first
        self.waiting: collections.deque[Job] = collections.deque()
        self.running: Job | None = None
        self.network: str | None = None  # the default model's weights, once loaded
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="nstyle-worker", daemon=True)

    # ------------------------------------------------------------ called by the app
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel everything and wait (at most ``timeout`` s) for the running epoch to end."""
        with self._cond:
            self._stopping = True
            for job in self.waiting:
                job.update(state="cancelled", **RELEASED)
            self.waiting.clear()
            if self.running is not None:
                self.running.cancel.set()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def has_room(self) -> bool:
        with self._cond:
            return len(self.waiting) < self.max_waiting

    def submit(self, job: Job) -> Job:
        with self._cond:
            if self._stopping:
                raise Stopping("the server is stopping")
            if len(self.waiting) >= self.max_waiting:
                raise QueueFull(
                    f"the queue is full ({len(self.waiting)} job(s) waiting); "
                    "try again when one has finished"
                )
            self.jobs[job.id] = job
            self.waiting.append(job)
            self._forget_old()
            self._cond.notify_all()
        return job

    def plan(
        self, settings: Settings, content: tuple[int, ...], styles: list[tuple[int, ...]],
        regions: int = 0,
    ) -> None:  # fmt: skip
        """Refuse at upload what the job's memory plan would refuse as it starts, with its
        line (``plan_pictures``, the painter's own, here from the job's ``Footprint``: no
        network, no executor, so any thread may ask). While a job runs, the memory it holds
        is free again when this one starts: without ``max_memory``, only what the whole
        memory would not hold is refused here (the job's own plan decides the rest)."""
        options = settings.options
        footprint = self.footprint(options, settings.fallback)
        try:
            plan_pictures(footprint, options, content, styles, self.ctx, regions=regions)
        except TooLarge:
            with self._cond:
                busy = self.running is not None
            if options.max_memory is not None or not busy:
                raise
            whole = devices.total_memory(self.ctx)
            plan_pictures(footprint, options, content, styles, self.ctx, regions=regions,
                          available=whole)  # fmt: skip

    def footprint(self, options: config.Options, fallback: str | None) -> Footprint:
        """The job's network as the plan needs it: read off its weights when they are
        loaded (a small test network's widths), else the model's own table."""
        weights = self.local.loaded(options, fallback)
        if weights is None:
            return Footprint.of(options, MODELS[options.model])
        return Footprint.of(options, weights.num_layers, weights.channels)

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            return self.jobs.get(job_id)

    def cancel(self, job: Job) -> bool:
        """A waiting job is cancelled at once; a running one at the end of its epoch.
        False when the job has already ended (done, failed or cancelled)."""
        with self._cond:
            if job in self.waiting:
                self.waiting.remove(job)
                job.update(state="cancelled", **RELEASED)
                return True
            if job.state == "running":
                job.cancel.set()
                return True
            return False

    def position(self, job: Job) -> int:
        """How many jobs run before this one (0: it runs now or has run)."""
        with self._cond:
            if job in self.waiting:
                return self.waiting.index(job) + (self.running is not None) + 1
            return 0

    def _forget_old(self) -> None:
        """Keep at most ``keep`` finished jobs (and their pictures), and the 16-bit pictures
        of the newest within ``keep_finals`` bytes (the older keep their JPEG)."""
        finished = [j for j in self.jobs.values() if j.state in FINAL]
        for job in finished[: max(0, len(finished) - self.keep)]:
            del self.jobs[job.id]
        kept = 0  # the newest finished pictures within ``keep_finals`` bytes, at least one
        for job in reversed(list(self.jobs.values())):
            with job.lock:
                if job.final is not None:
                    kept += job.final.nbytes
                    if kept > self.keep_finals and kept > job.final.nbytes:
                        job.final, job.dropped = None, True

    # ------------------------------------------------------------ the worker thread
    def _run(self) -> None:
        if self.preload:
            try:
                self.weights_for(self.defaults, self.fallback)
            except NStyleError as exc:  # the first job will say it again
                log.warning("nstyle.web: warning: %s", one_line(str(exc)))
        while True:
            with self._cond:
                while not self.waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self.running = self.waiting.popleft()
                job.update(state="running")
            try:
                self._execute(job)
            except Exception as exc:  # the picture's encoding, after the painting: the job
                self._bug(job, exc)  # fails and the worker goes on to the next one
            finally:
                with self._cond:
                    self.running = None
                    job.update(**RELEASED)
                    self._forget_old()

    def weights_for(self, options: config.Options, fallback: str | None) -> Any:
        """Loaded once per server for each model (and fallback)."""
        weights = self.local.weights(options, fallback)
        if (options.model, fallback) == (self.defaults.model, self.fallback):
            self.network = weights.description
        return weights

    def _execute(self, job: Job) -> None:
        settings, shown = job.settings, [0.0]

        def on_epoch(it: api.Iterate) -> None:
            if job.cancel.is_set():
                raise Cancelled
            job.update(epoch=it.epoch, scale=it.scale, elapsed=it.elapsed)
            now = time.monotonic()
            if it.epoch == 1 or now - shown[0] >= self.preview_seconds:
                losses = it.losses  # read from the device only here
                job.show(it.picture())
                job.update(losses=losses)
                shown[0] = time.monotonic()

        try:
            if job.cancel.is_set():
                raise Cancelled
            weights = self.weights_for(settings.options, settings.fallback)
            job.update(network=weights.description)
            assert job.content is not None and job.styles is not None
            painter = self.local.painter(
                job.styles, settings.options, fallback=settings.fallback,
                style_masks=job.style_masks,
            )  # fmt: skip
            task = Task(0, None, job.content, masks=job.masks)
            result = self.local.run(painter, task, on_epoch)
        except Cancelled:
            job.update(state="cancelled")
        except Exception as exc:
            failure = Failure.of(exc)  # the weights or the painter refused, or MXNet failed
            if failure is not None:
                self._failed(job, failure)
                return
            self._bug(job, exc)
        else:
            if isinstance(result, Failure):
                self._failed(job, result)
                return
            picture = result.image if result.pixels is None else result.pixels
            job.keep(images.denoise(picture, settings.remove_noise))
            job.update(
                state="done", epoch=result.epochs, elapsed=result.seconds, reason=result.reason
            )

    @staticmethod
    def _bug(job: Job, exc: Exception) -> None:
        """A job that failed by a bug: a log line where, the page a line what."""
        log.error("nstyle.web: error: job %s failed: %s", job.id, bug(exc))
        job.update(state="failed", error=one_line(f"internal error: {exc!r}"))

    def _failed(self, job: Job, failure: Failure) -> None:
        """A job that failed: its line, and the last good picture where it diverged."""
        error = failure.error
        if isinstance(error, Diverged) and error.finest is not None:
            job.keep(images.denoise(error.finest, job.settings.remove_noise))
        job.update(state="failed", error=one_line(str(error)))
