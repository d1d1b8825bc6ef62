"""The HTTP side: the JSON API, the live picture by Server-Sent Events, the page.

    POST   /api/jobs              multipart: content, style (1+), Options fields -> 201 {"id"}
    GET    /api/jobs/{id}         {"state", "epoch", "losses", "error", ...}
    GET    /api/jobs/{id}/image   the current or final picture, JPEG
    GET    /api/jobs/{id}/events  the same status, pushed (text/event-stream) as it changes
    DELETE /api/jobs/{id}         cancel
    GET    /api/options           the form: Options' fields, their help, defaults, choices
    GET    /api/samples[/{name}]  the bundled sample pictures

Uploads are capped while they are read (413), kept in memory (never spooled to a file
outside the server's folder), decoded by ``nstyle.images.read_image`` from a file of a
random name in the server's own working folder, which it removes on exit. Every error
answers ``{"error": "<the command line's one-line message>"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nstyle import api, config, images
from nstyle.errors import NStyleError
from nstyle.web import options as fields
from nstyle.web.jobs import FINAL, Job, QueueFull, Worker

STATIC = Path(__file__).resolve().parent / "static"
SAMPLES = Path(__file__).resolve().parents[2] / "input"  # a checkout's bundled pictures
MAX_UPLOAD = 50 * 2**20  # bytes in one POST /api/jobs, all files together
MAX_STYLES = 8
MAX_FIELD = 64 * 2**10  # bytes of one option's text
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]
BOMB = "decompression bombs"  # in read_image's message for a picture over the pixel limit
HEADERS = {  # the page loads nothing from elsewhere, and nothing else may frame it
    "content-security-policy": "default-src 'self'; img-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class Refused(Exception):
    """A request we answer with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class TooLarge(Exception):
    pass


def sanitized(name: str | None, limit: int = 100) -> str:
    """An upload's file name as a label: no control characters, not too long."""
    text = re.sub(r"[\x00-\x1f\x7f]", "?", name or "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class MemoryParser(MultiPartParser):
    """Starlette's multipart parser, keeping files in memory: the stream it reads is
    capped, so they never outgrow it (its default spools files over 1 MB to /tmp)."""

    def __init__(self, *args: Any, limit: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.spool_max_size = limit + 1


class Server:
    """One app's state: the worker, its working folder, its limits."""

    def __init__(
        self,
        worker: Worker,
        workdir: Path,
        max_upload: int,
        max_pixels: int,
        samples: dict[str, Path],
    ):
        self.worker, self.workdir = worker, workdir
        self.max_upload, self.max_pixels = max_upload, max_pixels
        self.samples = samples
        self.decoding = threading.Lock()

    def job(self, request: Request) -> Job:
        job = self.worker.get(request.path_params["id"])
        if job is None:
            raise Refused(404, "no such job (the id is unknown, or the job was forgotten)")
        return job

    def status(self, job: Job) -> dict[str, Any]:
        return {**job.status(), "position": self.worker.position(job)}

    # ------------------------------------------------------------ reading a job
    async def read_form(self, request: Request) -> FormData:
        """The multipart body, refused (413) as soon as it passes ``max_upload`` bytes."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "multipart/form-data":
            raise Refused(415, "POST /api/jobs takes multipart/form-data (content, style, options)")
        too_large = Refused(
            413, f"the upload is larger than {self.max_upload / 2**20:g} MB, the limit"
        )
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_upload:
            raise too_large

        async def capped() -> AsyncIterator[bytes]:
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > self.max_upload:
                    raise TooLarge
                yield chunk

        parser = MemoryParser(
            request.headers,
            capped(),
            max_files=MAX_STYLES + 1,
            max_fields=len(fields.FIELDS) + 10,
            max_part_size=MAX_FIELD,
            limit=self.max_upload,
        )
        try:
            return await parser.parse()
        except TooLarge:
            raise too_large from None
        except MultiPartException as exc:
            raise Refused(400, exc.message) from None

    def decode(self, data: bytes, label: str, edge: int) -> np.ndarray:
        """An upload as RGB uint8, by the command line's reader and its guards, made no
        larger than the job needs (a long edge of ``edge``: what the run would resize it to),
        so that waiting jobs hold no more memory than that. One at a time."""
        with self.decoding:
            picture = self._read(data, label)
        try:  # what the run would refuse at once: a side under the minimum
            images.long_edge_shape(picture.shape, edge)
        except NStyleError as exc:
            raise Refused(400, str(exc)) from None
        return images.resize_long_edge(picture, edge) if max(picture.shape[:2]) > edge else picture

    def _read(self, data: bytes, label: str) -> np.ndarray:
        path = self.workdir / f"upload-{secrets.token_hex(16)}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return images.read_image(path, self.max_pixels)
        except NStyleError as exc:
            message = str(exc).replace(str(path), label)
            raise Refused(413 if BOMB in message else 415, message) from None
        finally:
            path.unlink(missing_ok=True)

    async def new_job(self, request: Request) -> Job:
        form = await self.read_form(request)
        try:
            uploads: dict[str, list[UploadFile]] = {"content": [], "style": []}
            values = []
            for name, value in form.multi_items():
                if name in uploads:
                    if not isinstance(value, UploadFile):
                        raise Refused(400, f"{name} must be a file, not text")
                    uploads[name].append(value)
                elif isinstance(value, UploadFile):
                    raise Refused(400, f"{sanitized(name, 40)!r} is not a file field")
                else:
                    values.append((name, value))
            if len(uploads["content"]) != 1:
                raise Refused(400, "give one photo as the file field 'content'")
            if len(uploads["style"]) > MAX_STYLES:
                raise Refused(400, f"at most {MAX_STYLES} style images")
            try:
                settings = fields.parse(values, self.worker.defaults, self.worker.fallback)
                config.check_styles(settings.options, len(uploads["style"]))
            except NStyleError as exc:
                raise Refused(400, str(exc)) from None
            if not self.worker.has_room():  # before decoding anything
                raise QueueFull("the queue is full; try again when a job has finished")
            names = [sanitized(u.filename) for u in uploads["content"] + uploads["style"]]
            labels = [name or "content" for name in names[:1]] + [
                name or f"style {i}" for i, name in enumerate(names[1:], 1)
            ]
            edges = [settings.options.max_long_edge] + [api.style_edge(settings.options)] * len(
                uploads["style"]
            )
            pictures = []
            for upload, label, edge in zip(uploads["content"] + uploads["style"], labels, edges):
                data = await upload.read()
                pictures.append(await run_in_threadpool(self.decode, data, label, edge))
        finally:
            await form.close()
        job = Job(settings, pictures[0], pictures[1:], {"content": names[0], "styles": names[1:]})
        return self.worker.submit(job)


def create_app(
    ctx: Any = None,
    *,
    max_waiting: int = 4,
    max_upload: int = MAX_UPLOAD,
    max_pixels: int = images.MAX_IMAGE_PIXELS,
    preview_seconds: float = 0.5,
    preload: bool = False,
    defaults: config.Options = config.Options(),
    fallback: str | None = "vgg16",
    hosts: list[str] | None = None,
    workdir: Path | None = None,
) -> Starlette:
    """The app. ``ctx``: the device (default the CPU); ``defaults``: the options of a job
    that names none; ``fallback``: the model used when the default one cannot be had;
    ``preload``: load the default weights when the server starts; ``hosts``: the names
    the Host header may carry (default: loopback names only; ``["*"]``: any)."""
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
    )
    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="nstyle-web-")) if workdir is None else workdir
    samples = {
        p.name: p
        for p in sorted(SAMPLES.glob("*"))
        if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file()
    }
    server = Server(worker, folder, max_upload, max_pixels, samples)

    async def post_job(request: Request) -> Response:
        job = await server.new_job(request)
        return JSONResponse(
            {"id": job.id, "state": job.state, "position": server.worker.position(job)},
            status_code=201,
            headers={"location": f"/api/jobs/{job.id}"},
        )

    async def get_job(request: Request) -> Response:
        status = server.status(server.job(request))
        return JSONResponse(status, headers={"cache-control": "no-store"})

    async def delete_job(request: Request) -> Response:
        job = server.job(request)
        if job.state in ("done", "failed"):
            ended = "finished" if job.state == "done" else "failed"
            raise Refused(409, f"the job has already {ended}")
        server.worker.cancel(job)
        return JSONResponse(server.status(job), status_code=202)

    async def get_image(request: Request) -> Response:
        job = server.job(request)
        with job.lock:
            data, version, state = job.picture, job.version, job.state
        if data is None:
            raise Refused(404, f"no picture yet: the job is {state}")
        headers = {"cache-control": "no-store", "x-picture": str(version)}
        if request.query_params.get("download"):
            stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(job.names["content"]).stem)[:40]
            headers["content-disposition"] = (
                f'attachment; filename="nstyle-{stem.strip("-") or "picture"}.jpg"'
            )
        return Response(data, media_type="image/jpeg", headers=headers)

    async def job_events(request: Request) -> Response:
        job = server.job(request)

        async def stream() -> AsyncIterator[str]:
            last: Any = None
            quiet = 0.0
            yield "retry: 1000\n\n"
            while True:
                status = server.status(job)
                key = (status["state"], status["epoch"], status["picture"], status["position"])
                if key != last:
                    last, quiet = key, 0.0
                    yield f"data: {json.dumps(status)}\n\n"
                    if status["state"] in FINAL:
                        return
                elif quiet >= 15:
                    quiet = 0.0
                    yield ": still here\n\n"
                await asyncio.sleep(0.2)
                quiet += 0.2

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def get_options(request: Request) -> Response:
        return JSONResponse(
            {
                "fields": fields.schema(server.worker.defaults),
                "device": str(server.worker.ctx),
                "network": server.worker.network,
                "limits": {
                    "max_upload_bytes": server.max_upload,
                    "max_styles": MAX_STYLES,
                    "max_image_pixels": server.max_pixels,
                    "max_waiting": server.worker.max_waiting,
                },
            }
        )

    async def get_samples(request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "name": name,
                    "kind": "photo" if name.startswith("content") else "painting",
                    "url": f"/api/samples/{name}",
                }
                for name in server.samples
            ]
        )

    async def get_sample(request: Request) -> Response:
        path = server.samples.get(request.path_params["name"])  # a key, never a path
        if path is None:
            raise Refused(404, "no such sample")
        return FileResponse(path, headers={"cache-control": "max-age=3600"})

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def queue_full(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=429, headers={"retry-after": "10"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            await run_in_threadpool(worker.stop)
            if own:
                shutil.rmtree(folder, ignore_errors=True)

    routes = [
        Route("/", index),
        Route("/api/jobs", post_job, methods=["POST"]),
        Route("/api/jobs/{id}", get_job, methods=["GET"]),
        Route("/api/jobs/{id}", delete_job, methods=["DELETE"]),
        Route("/api/jobs/{id}/image", get_image),
        Route("/api/jobs/{id}/events", job_events),
        Route("/api/options", get_options),
        Route("/api/samples", get_samples),
        Route("/api/samples/{name}", get_sample),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts or LOOPBACK_NAMES),
            Middleware(SameOrigin),
        ],
        exception_handlers={Refused: refused, QueueFull: queue_full, HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.server = server
    return app


class SameOrigin:
    """Refuse a request that changes something (POST, DELETE) sent by a page of another
    origin: a web page the user visits cannot start or cancel jobs here. Also adds the
    security headers to every answer."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if (
            scope["method"] not in ("GET", "HEAD", "OPTIONS")
            and origin
            and (origin == "null" or urlsplit(origin).netloc != host)
        ):
            response = JSONResponse({"error": "a request from another site is refused"}, 403)
            await response(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [
                    (k.encode(), v.encode()) for k, v in HEADERS.items()
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
