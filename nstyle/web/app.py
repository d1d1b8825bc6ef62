"""The HTTP side: the JSON API, the live picture by Server-Sent Events, the page.

    POST   /api/jobs              multipart: content, style (1+), Options fields -> 201 {"id"}
    GET    /api/jobs/{id}         {"state", "epoch", "losses", "error", ...}
    GET    /api/jobs/{id}/image   the current or final picture, JPEG
    GET    /api/jobs/{id}/events  the same status, pushed (text/event-stream) as it changes
    DELETE /api/jobs/{id}         cancel
    GET    /api/options           the form: Options' fields, their help, defaults, choices
    GET    /api/samples[/{name}]  the bundled sample pictures

Uploads are capped while they are read (413), kept in memory (never spooled to a file
outside the server's folder), decoded by ``nstyle.media.images.read_image`` from a file of a
random name in the server's own working folder, which it removes on exit (and makes again
if it is removed while it runs). Every error answers ``{"error": "<the command line's
one-line message>"}``, a foreign Host header and a failure of the server's own included;
nothing reaches the log as a traceback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
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
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nstyle import api, config, errors
from nstyle.errors import NStyleError
from nstyle.media import images
from nstyle.web import options as fields
from nstyle.web.jobs import FINAL, Job, QueueFull, Stopping, Worker, bug, log

STATIC = Path(__file__).resolve().parent / "static"
SAMPLES = Path(__file__).resolve().parents[2] / "input"  # a checkout's bundled pictures
MAX_UPLOAD = 50 * 2**20  # bytes in one POST /api/jobs, all files together
MAX_STYLES = 8
MAX_FIELD = 64 * 2**10  # bytes of one option's text
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]
HOST = re.compile(r"(\[[0-9a-fA-F:.]*\]|[^:\[\]@/]*)(?::[0-9]{1,5})?")  # name[:port]
POLL = 0.25  # seconds between looks at whether the server is stopping, while a body is read
STALLED = 60.0  # seconds an upload may send nothing before it is refused (408)
STOPPING = "the server is stopping"
STATUS = (  # an error's HTTP status by its kind, the first that matches
    (errors.TooLarge, 413),  # a picture over the pixel limit
    (errors.UnsupportedMedia, 415),  # not a readable image
    (QueueFull, 429),
    (Stopping, 503),
)
HEADERS = {  # the page loads nothing from elsewhere, and nothing else may frame it
    "content-security-policy": "default-src 'self'; img-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def status_of(exc: NStyleError, otherwise: int) -> int:
    """The HTTP status of an error by its kind (``STATUS``); a plain ``NStyleError`` is
    ``otherwise``: what was being read decides (an upload: 415, the form: 400)."""
    return next((status for kind, status in STATUS if isinstance(exc, kind)), otherwise)


class Refused(Exception):
    """A request we answer with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class TooLarge(Exception):
    pass


ENDED = {
    "done": "the job has already finished",
    "failed": "the job has already failed",
    "cancelled": "the job has already been cancelled",
}


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
        own: bool = True,
        stalled: float = STALLED,
    ):
        self.worker, self.workdir, self.own, self.stalled = worker, workdir, own, stalled
        self.max_upload, self.max_pixels = max_upload, max_pixels
        self.samples = samples
        self.decoding = threading.Lock()  # one picture decoded at a time: bounded memory
        self.folder = threading.Lock()  # guards ``workdir`` and the upload's file in it
        self.stopping = threading.Event()  # set when a signal stops the server
        self.closed = False

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
            """The body as it comes, a look at the server's stop between waits."""
            total, more, idle = 0, True, 0.0
            while more:
                try:
                    message = await asyncio.wait_for(request.receive(), POLL)
                except TimeoutError:
                    if self.stopping.is_set():
                        raise Refused(503, STOPPING) from None
                    idle += POLL
                    if idle >= self.stalled:
                        raise Refused(
                            408, f"the upload stalled: nothing came for {self.stalled:g} s"
                        ) from None
                    continue
                idle = 0.0
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect
                chunk, more = message.get("body", b""), message.get("more_body", False)
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
            with self.folder:
                picture = self._read(data, label)
            try:  # what the run would refuse at once: a side under the minimum
                images.long_edge_shape(picture.shape, edge)
            except NStyleError as exc:
                raise Refused(status_of(exc, 400), str(exc)) from None
            if max(picture.shape[:2]) > edge:
                picture = images.resize_long_edge(picture, edge)
            return picture

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

    def _read(self, data: bytes, label: str) -> np.ndarray:
        if self.closed:
            raise Refused(503, STOPPING)
        path = self.workdir / f"upload-{secrets.token_hex(16)}"
        try:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError:  # the folder was removed: a new one of our own
                self.workdir, self.own = Path(tempfile.mkdtemp(prefix="nstyle-web-")), True
                log.warning(
                    "nstyle.web: warning: %s was removed; now %s", path.parent, self.workdir
                )
                path = self.workdir / path.name
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return images.read_image(path, self.max_pixels)
        except NStyleError as exc:
            message = str(exc).replace(str(path), label)
            raise Refused(status_of(exc, 415), message) from None
        except OSError as exc:  # a full disk, a temporary folder removed
            raise Refused(
                503, f"the server cannot write its temporary file ({exc.strerror or exc})"
            ) from None
        finally:
            path.unlink(missing_ok=True)

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
                raise Refused(status_of(exc, 400), str(exc)) from None
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
                if self.stopping.is_set():
                    raise Refused(503, STOPPING)
                data = await upload.read()
                pictures.append(await self.in_thread(self.decode, data, label, edge))
        finally:
            await form.close()
        if self.stopping.is_set():
            raise Refused(503, STOPPING)
        job = Job(settings, pictures[0], pictures[1:], {"content": names[0], "styles": names[1:]})
        try:
            return self.worker.submit(job)
        except Stopping as exc:  # (a full queue goes to its own handler: 429, retry-after)
            raise Refused(status_of(exc, 400), str(exc)) from None


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
) -> Starlette:
    """The app. ``ctx``: the device (default the CPU); ``defaults``: the options of a job
    that names none; ``fallback``: the model used when the default one cannot be had;
    ``preload``: load the default weights when the server starts; ``hosts``: the names
    the Host header may carry (default: loopback names only; ``["*"]``: any); ``stalled``:
    the seconds an upload may send nothing before it is refused."""
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
    server = Server(worker, folder, max_upload, max_pixels, samples, own, stalled)

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
        if not server.worker.cancel(job):
            raise Refused(409, ENDED[job.state])
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
            while not server.stopping.is_set():  # the server's stop ends the stream
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
        assert isinstance(exc, QueueFull)
        status = status_of(exc, 400)
        return JSONResponse({"error": str(exc)}, status_code=status, headers={"retry-after": "10"})

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
            await run_in_threadpool(server.remove_folder)

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
        middleware=[Middleware(Guard, hosts=hosts or LOOPBACK_NAMES)],
        exception_handlers={Refused: refused, QueueFull: queue_full, HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.server = server
    return app


def host_name(header: str) -> str | None:
    """The name in a Host header (``name[:port]``), lower case; None when malformed."""
    match = HOST.fullmatch(header.strip())
    return match.group(1).lower() if match else None


async def answer(send: Send, status: int, message: str) -> None:
    """A JSON refusal sent outside the app's routes."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Around every request. Answer only requests naming one of ``hosts`` (a page of
    another site cannot reach the server by renaming its own host to this address); refuse
    a request that changes something (POST, DELETE) sent by a page of another origin; add
    the security headers. What still goes wrong is one log line and a JSON answer, never a
    traceback: a client that left gets nothing, a request the server's stop cut short 503,
    a bug 500."""

    def __init__(self, app: ASGIApp, hosts: list[str]):
        self.app, self.hosts = app, {h.lower() for h in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + [
                    (k.encode(), v.encode()) for k, v in HEADERS.items()
                ]
            await send(message)

        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if "*" not in self.hosts and host_name(host) not in self.hosts:
            shown = host if len(host) <= 40 else host[:40] + "..."
            names = ", ".join(sorted(self.hosts))
            await answer(
                with_headers, 400, f"this server answers requests for {names} only, not {shown!r}"
            )
            return
        if (
            scope["method"] not in ("GET", "HEAD", "OPTIONS")
            and origin
            and (origin == "null" or urlsplit(origin).netloc != host)
        ):
            await answer(with_headers, 403, "a request from another site is refused")
            return
        try:
            await self.app(scope, receive, with_headers)
        except ClientDisconnect:  # nobody to answer
            pass
        except asyncio.CancelledError:  # the server stopped before the request ended
            if not started:
                with contextlib.suppress(Exception):  # the connection may be gone too
                    await answer(with_headers, 503, STOPPING)
        except Exception as exc:  # a bug: one line in the log, the server goes on
            log.error(
                "nstyle.web: error: %s %s failed: %s", scope["method"], scope["path"], bug(exc)
            )
            if not started:
                await answer(with_headers, 500, "internal error (the server's log says more)")
