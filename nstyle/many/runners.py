"""Where a batch's tasks are painted: ``InProcess`` (the default) one after another in
this process, or ``RayRunner`` on a Ray cluster; both paint through ``Local``.

A runner offers ``slots`` (tasks it can hold at once), ``busy``, ``start()`` (a line saying
where it paints), ``submit(task)``, ``next_done()`` (a finished task and its result or
``Failure``) and ``close()``. ``InProcess`` builds one ``Painter``; no Ray process starts.
``RayRunner`` runs one ``RayActor`` per worker, each holding a ``Painter`` (its weights
loaded by the actor itself, from the machine's cache, ``~/.mxnet/models``; the style images,
the --init picture and the masks sent once as arrays, ``Shared``), tasks sent to idle
actors, results returned as arrays. Actors restart
when their process dies and their running task is retried (``MAX_RESTARTS``,
``MAX_TASK_RETRIES``), so a dead worker loses at most its current item. How the cluster is
reached and started: ``nstyle.many.cluster``.
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nstyle.config import Options
from nstyle.errors import NStyleError, framework_failure, squeezed
from nstyle.many import cluster
from nstyle.many.tasks import Painted, Task, paint_task

MAX_RESTARTS = 3  # a Ray actor whose process dies is restarted this many times
MAX_TASK_RETRIES = 3  # and the task it was running is retried
WORKERS_START_SECONDS = 600.0  # the Ray workers must have built their painters by then


@dataclass(frozen=True)
class Shared:
    """What every task of a batch is painted with, read once by the caller: the style
    images, the --init file's picture, the masks (one per style image: where each painting
    goes, the same on every picture and frame, resized to each) and the style masks (the
    part of each painting its statistics come from). A runner builds its painters on them;
    Ray's workers get them through the object store, so they need none of these files."""

    styles: list[np.ndarray]
    init: np.ndarray | None = None
    masks: list[np.ndarray] | None = None
    style_masks: list[np.ndarray | None] | None = None


class Failure:
    """A task that failed: the error, of its kind, that says why in a line."""

    def __init__(self, error: NStyleError):
        self.error = error

    @property
    def message(self) -> str:
        return str(self.error)

    @classmethod
    def of(cls, exc: BaseException) -> Failure | None:
        """``exc`` as an item's failure: nstyle's own error or the framework's; None for
        anything else (a bug)."""
        if isinstance(exc, NStyleError):
            return cls(exc)
        failed = framework_failure(exc)
        return None if failed is None else cls(failed)


class Local:
    """Paints in this process: the weights loaded once per model, a ``Painter`` built on
    them, and each task's outcome, an item's own failure told from a bug. ``InProcess``
    and every ``RayActor`` paint through one."""

    def __init__(self, ctx: Any, *, load_weights: Callable[..., Any] | None = None, verbose=True):
        self.ctx = ctx
        self.load_weights = load_weights  # default: nstyle.api.load_weights
        self.verbose = verbose  # the painter's plan and scale lines at INFO (else DEBUG)
        self._weights: dict[tuple[str, str | None, str | None], Any] = {}

    def weights(self, options: Options, fallback: str | None) -> Any:
        """The ``Weights`` ``options`` ask for, loaded once per (model, weights, fallback)."""
        key = (options.model, options.weights, fallback)
        if key not in self._weights:
            load = self.load_weights
            if load is None:
                from nstyle import api

                load = api.load_weights
            self._weights[key] = load(options, fallback=fallback)
        return self._weights[key]

    def loaded(self, options: Options, fallback: str | None) -> Any:
        """The ``Weights`` ``options`` ask for if ``weights`` has loaded them, else None
        (a dictionary's lookup: any thread may ask)."""
        return self._weights.get((options.model, options.weights, fallback))

    def painter(
        self,
        styles: list[np.ndarray],
        options: Options,
        *,
        fallback: str | None,
        init: np.ndarray | None = None,
        style_masks: list[np.ndarray | None] | None = None,
    ) -> Any:
        """An ``api.Painter`` for ``styles`` and ``options`` on this one's context."""
        from nstyle import api

        weights = self.weights(options, fallback)
        return api.Painter(
            styles, options, ctx=self.ctx, weights=weights, init=init,
            style_masks=style_masks, verbose=self.verbose,
        )  # fmt: skip

    def shared_painter(self, shared: Shared, options: Options, fallback: str | None) -> Any:
        """``painter`` for a batch's ``Shared`` pictures."""
        return self.painter(
            shared.styles, options, fallback=fallback, init=shared.init,
            style_masks=shared.style_masks,
        )  # fmt: skip

    def run(
        self,
        painter: Any,
        task: Task,
        callback: Callable | None = None,
        masks: list[np.ndarray] | None = None,
    ) -> Any:
        """Paint ``task`` (with ``masks`` unless it has its own): its ``api.Result``, or a
        ``Failure`` when the item failed (an ``NStyleError``, the framework's failure); any
        other exception, a bug, is raised."""
        try:
            return paint_task(painter, task, callback, masks)
        except Exception as exc:
            failure = Failure.of(exc)
            if failure is None:
                raise
            return failure


class InProcess:
    """Tasks painted one after another in this process, by one ``api.Painter``."""

    slots = 1

    def __init__(
        self,
        shared: Shared,
        options: Options,
        *,
        gpu: int | None = None,
        fallback: str | None = None,
        epoch_hook: Callable[[], None] | None = None,
    ):
        self.options, self.gpu, self.fallback = options, gpu, fallback
        self.shared = shared  # read by the caller
        self.epoch_hook = epoch_hook
        self.queue: deque[Task] = deque()
        self.local: Local | None = None
        self.painter: Any = None

    def start(self) -> str:
        """Load the weights and build the network: the painter."""
        from nstyle import devices

        local = self.local = Local(devices.select_context(self.gpu), verbose=False)
        self.painter = local.shared_painter(self.shared, self.options, self.fallback)
        self.painter.check_fits_at_all()
        return f"in this process ({local.weights(self.options, self.fallback).description})"

    @property
    def busy(self) -> int:
        return len(self.queue)

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def next_done(self) -> tuple[Task, Any]:
        """The next finished task and its ``api.Result`` or ``Failure``."""
        assert self.local is not None
        task = self.queue.popleft()
        hook = self.epoch_hook
        callback = None if hook is None else lambda it: hook()
        return task, self.local.run(self.painter, task, callback, self.shared.masks)

    def close(self) -> None:
        self.queue.clear()
        self.painter = None


class RayActor:
    """What a Ray actor holds: a ``Painter``, built once (weights from this machine's cache,
    loaded by the actor itself).

    The batch's ``Shared`` pictures (style images, --init, masks) come with each call as a
    reference (``[ObjectRef]``, a few bytes; the arrays cross once, into the object store,
    where the driver keeps them) and the painter is built on the first call: a restarted
    actor builds it again from them. (A reference among the constructor's arguments would
    not survive a restart, Ray issue 53727.)"""

    def __init__(self, options: Options, fallback: str | None, gpu: int | None, share: int):
        self.threads = cluster.limit_threads(share)
        self.options, self.fallback, self.gpu = options, fallback, gpu
        self.local: Local | None = None
        self.painter: Any = None
        self.masks: list[np.ndarray] | None = None  # where each painting goes, every task
        self.description = ""

    def _painter(self, pictures: list[Any]) -> Any:
        if self.painter is None:
            import ray

            from nstyle import devices

            local = self.local = Local(devices.select_context(self.gpu), verbose=False)
            self.description = local.weights(self.options, self.fallback).description
            shared: Shared = ray.get(pictures[0])
            self.painter = local.shared_painter(shared, self.options, self.fallback)
            self.masks = shared.masks
        return self.painter

    def ready(self, pictures: list[Any]) -> tuple[str, int, int, str]:
        """Build the painter; (host, process id, threads, weights): where it runs."""
        self._painter(pictures).check_fits_at_all()
        return socket.gethostname(), os.getpid(), self.threads, self.description

    def run(self, task: Task, pictures: list[Any]) -> Painted | Failure:
        painter = self._painter(pictures)
        assert self.local is not None
        outcome = self.local.run(painter, task, masks=self.masks)
        if isinstance(outcome, Failure):
            return outcome
        if task.frame is not None:  # a video's frame is encoded by the video writer: 8 bits
            return Painted(outcome.image, outcome.epochs, outcome.seconds, outcome.reason)
        return Painted(
            outcome.image, outcome.epochs, outcome.seconds, outcome.reason, outcome.pixels
        )


class RayRunner:
    """Tasks on a Ray cluster, one ``RayActor`` per worker (see the module's notes)."""

    def __init__(
        self,
        shared: Shared,
        options: Options,
        *,
        address: str | None = None,
        workers: int | None = None,
        fallback: str | None = None,
        gpu: int | None = None,
        quiet: bool = False,
        epoch_hook: Callable[[], None] | None = None,
    ):
        if (address is None) == (workers is None):
            raise ValueError("give either address or workers")
        self.options, self.fallback, self.gpu = options, fallback, gpu
        self.address, self.workers, self.quiet = address, workers, quiet
        # workers elsewhere have none of these files: the pictures travel (see RayActor)
        self.shared = shared
        self.epoch_hook = epoch_hook
        self.actors: list[Any] = []
        self.idle: list[Any] = []
        self.running: dict[Any, tuple[Task, Any]] = {}  # ObjectRef: (task, actor)
        self.ray: Any = None

    @property
    def slots(self) -> int:
        return len(self.actors)

    @property
    def busy(self) -> int:
        return len(self.running)

    def start(self) -> str:
        """Start or join the cluster and build every worker's painter: where they run."""
        self.ray = cluster.import_ray(self.workers, self.address)
        found = self._start_actors(self._init_cluster())
        self.idle = list(self.actors)
        return self._describe(found)

    def _init_cluster(self) -> list[tuple[Any, int]]:
        try:
            return cluster.join(self.ray, self.workers, self.address)
        except NStyleError:
            self.close()
            raise

    def _start_actors(self, places: list[tuple[Any, int]]) -> list[Any]:
        """One actor per place, each ready: their (host, process id, threads, weights)."""
        remote = self.ray.remote(
            num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES
        )(RayActor)
        self.pictures_ref = [self.ray.put(self.shared)]  # see RayActor
        for node, share in places:
            extra: dict[str, Any] = {}
            if node is not None:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                extra["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
            self.actors.append(
                remote.options(**extra).remote(self.options, self.fallback, self.gpu, share)
            )
        try:
            return self._wait_ready(
                [actor.ready.remote(self.pictures_ref) for actor in self.actors]
            )
        except NStyleError as exc:
            self.close()
            raise NStyleError(f"a Ray worker could not start: {exc}") from None

    def _describe(self, found: list[Any]) -> str:
        hosts = sorted({host for host, *_ in found})
        threads = ", ".join(str(t) for _, _, t, _ in found)
        where = "a local Ray cluster" if self.workers else f"the Ray cluster at {self.address}"
        return (
            f"on {where}: {len(found)} worker(s) on {len(hosts)} machine(s), "
            f"MXNet threads {threads} ({found[0][3]})"
        )

    def _wait_ready(self, refs: list[Any]) -> list[Any]:
        """The workers' ``ready`` answers, waited for in short steps (a signal ends the
        wait between them) and at most ``WORKERS_START_SECONDS``."""
        end = time.monotonic() + WORKERS_START_SECONDS
        pending = list(refs)
        while pending:
            if self.epoch_hook is not None:
                self.epoch_hook()
            if time.monotonic() > end:
                raise NStyleError(
                    f"{len(pending)} of {len(refs)} worker(s) not ready after "
                    f"{WORKERS_START_SECONDS:.0f} s (is the cluster busy?)"
                )
            _, pending = self.ray.wait(pending, num_returns=len(pending), timeout=0.5)
        return self._get(refs)

    def _get(self, refs):
        """``ray.get``, the task's own error as an ``NStyleError`` line (a bug's or Ray's
        own, such as a worker gone for good, named by its type)."""
        try:
            return self.ray.get(refs)
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc
            failure = Failure.of(cause)
            if failure is None:
                failure = Failure(NStyleError(f"{type(cause).__name__}: {squeezed(cause)}"))
            raise failure.error from None

    def submit(self, task: Task) -> None:
        actor = self.idle.pop()
        self.running[actor.run.remote(task, self.pictures_ref)] = (task, actor)

    def next_done(self) -> tuple[Task, Any]:
        """The next finished task and its ``Painted`` or ``Failure``."""
        while True:
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=0.5)
            if self.epoch_hook is not None:
                self.epoch_hook()
            if ready:
                break
        ref = ready[0]
        task, actor = self.running.pop(ref)
        self.idle.append(actor)
        try:
            return task, self._get(ref)
        except NStyleError as exc:
            return task, Failure(exc)

    def close(self) -> None:
        if self.ray is None:
            return
        for actor in self.actors if self.workers is None else []:  # ours: shut down whole
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
        self.actors, self.idle, self.running = [], [], {}
        if self.ray.is_initialized():
            self.ray.shutdown()
