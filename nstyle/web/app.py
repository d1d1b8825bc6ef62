"""The web app, put together: the routes (``routes``) behind the guard (``guard``), one
``server.Server`` holding the worker and the working folder, and the static page.

Every error answers ``{"error": "<the command line's one-line message>"}`` with the status
of its kind (``refusals.STATUS``), a foreign Host header and a failure of the server's own
included; nothing reaches the log as a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from nstyle import api, config
from nstyle.media import images
from nstyle.web.guard import LOOPBACK_NAMES, MAX_UPLOAD, STALLED, Guard
from nstyle.web.jobs import Worker
from nstyle.web.refusals import HANDLERS, STATUS, status_of
from nstyle.web.routes import ROUTES, STATIC, find_samples
from nstyle.web.server import Server

__all__ = ["STATUS", "create_app", "status_of"]  # the status by kind, read here too


def create_app(
    ctx: Any = None,
    *,
    max_waiting: int = 4,
    max_upload: int = MAX_UPLOAD,
    stalled: float = STALLED,
    max_pixels: int = images.MAX_IMAGE_PIXELS,
    preview_seconds: float = 0.5,
    preload: bool = False,
    defaults: config.Options = config.Options(),
    fallback: str | None = "vgg16",
    hosts: list[str] | None = None,
    workdir: Path | None = None,
    load_weights: Callable[..., Any] = api.load_weights,
) -> Starlette:
    """The app. ``ctx``: the device (default the CPU); ``defaults``: the options of a job
    that names none; ``fallback``: the model used when the default one cannot be had;
    ``preload``: load the default weights when the server starts; ``hosts``: the names
    the Host header may carry (default: loopback names only; ``["*"]``: any); ``stalled``:
    the seconds an upload may send nothing before it is refused; ``workdir``: the folder
    for uploads (default: a new temporary one, removed when the app stops);
    ``load_weights(options, fallback=...)``: the network of a job (tests give small ones)."""
    if ctx is None:
        import mxnet as mx

        ctx = mx.cpu()
    worker = Worker(
        ctx,
        max_waiting=max_waiting,
        preview_seconds=preview_seconds,
        preload=preload,
        defaults=defaults,
        fallback=fallback,
        load_weights=load_weights,
    )
    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(Guard, hosts=hosts or LOOPBACK_NAMES)],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.server = Server(
        worker, workdir, max_upload=max_upload, max_pixels=max_pixels, stalled=stalled
    )
    app.state.samples = find_samples()
    return app


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """The worker runs while the app is served (by a test client; the command starts and
    stops it itself); the working folder goes with it."""
    server: Server = app.state.server
    server.start()
    try:
        yield
    finally:
        await run_in_threadpool(server.close)
