"""The request handlers: the JSON API, the live picture by Server-Sent Events, the page.

    POST   /api/jobs              multipart: content, style (1+), mask (0 or one per style),
                                  content_segmentation and style_segmentation (photo to
                                  photo's label images: both or neither), Options fields
                                  -> 201 {"id"}
    GET    /api/jobs/{id}         {"state", "epoch", "losses", "error", ...}
    GET    /api/jobs/{id}/image   the current or final picture, JPEG; ?format=png or tiff: the
                                  final one at 16 bits per channel (as --output x.png, x.tif)
    GET    /api/jobs/{id}/events  the same status, pushed (text/event-stream) as it changes
    DELETE /api/jobs/{id}         cancel
    GET    /api/options           the form: Options' fields, their help, defaults, choices
    GET    /api/samples[/{name}]  the bundled sample pictures

Each handler reads what it needs from ``request.app.state``: ``server`` (a
``nstyle.web.server.Server``) and ``samples`` (the sample pictures by name).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nstyle.web import options as fields
from nstyle.web.guard import MAX_STYLES
from nstyle.web.jobs import FINAL, Job
from nstyle.web.refusals import Refused
from nstyle.web.server import Server

STATIC = Path(__file__).resolve().parent / "static"
SAMPLES = Path(__file__).resolve().parents[2] / "input"  # a checkout's bundled pictures
# The download choices: ?format= -> (Pillow's format, the file's suffix, its media type).
FORMATS = {
    "jpeg": ("JPEG", ".jpg", "image/jpeg"),
    "png": ("PNG", ".png", "image/png"),
    "tiff": ("TIFF", ".tif", "image/tiff"),
}
ENDED = {
    "done": "the job has already finished",
    "failed": "the job has already failed",
    "cancelled": "the job has already been cancelled",
}


def find_samples(folder: Path = SAMPLES) -> dict[str, Path]:
    """The pictures offered as samples, by file name (a name is a key, never a path)."""
    return {
        p.name: p
        for p in sorted(folder.glob("*"))
        if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file()
    }


def server_of(request: Request) -> Server:
    return request.app.state.server


def job_of(request: Request) -> Job:
    """The job the path names (404 when there is none)."""
    return server_of(request).job(request.path_params["id"])


# ------------------------------------------------------------------ jobs
async def post_job(request: Request) -> Response:
    server = server_of(request)
    job = await server.new_job(request)
    return JSONResponse(
        {"id": job.id, "state": job.state, "position": server.worker.position(job)},
        status_code=201,
        headers={"location": f"/api/jobs/{job.id}"},
    )


async def get_job(request: Request) -> Response:
    status = server_of(request).status(job_of(request))
    return JSONResponse(status, headers={"cache-control": "no-store"})


async def delete_job(request: Request) -> Response:
    server, job = server_of(request), job_of(request)
    if not server.worker.cancel(job):
        raise Refused(409, ENDED[job.state])
    return JSONResponse(server.status(job), status_code=202)


async def get_image(request: Request) -> Response:
    job = job_of(request)
    kind = request.query_params.get("format", "jpeg")
    if kind not in FORMATS:
        raise Refused(400, f"format: {kind[:20]!r} is not one of {', '.join(FORMATS)}")
    with job.lock:
        data, version, state, final = job.picture, job.version, job.state, job.final
        dropped = job.dropped
    if data is None:
        raise Refused(404, f"no picture yet: the job is {state}")
    fmt, suffix, media = FORMATS[kind]
    if fmt != "JPEG":
        if dropped:
            raise Refused(410, f"the {kind.upper()} file of this job is no longer kept (the "
                          "newest jobs' are); its JPEG is")  # fmt: skip
        if final is None:
            raise Refused(409, f"a {kind.upper()} file is of the final picture: the job is {state}")
        data = await run_in_threadpool(job.encode, final, fmt)
    headers = {"cache-control": "no-store", "x-picture": str(version)}
    if request.query_params.get("download"):
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(job.names["content"]).stem)[:40]
        headers["content-disposition"] = (
            f'attachment; filename="nstyle-{stem.strip("-") or "picture"}{suffix}"'
        )
    return Response(data, media_type=media, headers=headers)


async def job_events(request: Request) -> Response:
    return StreamingResponse(
        events(server_of(request), job_of(request)),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def events(server: Server, job: Job) -> AsyncIterator[str]:
    """The job's status each time it changes, until it ends or the server stops; a
    comment now and then to keep a quiet connection open."""
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


# ------------------------------------------------------------------ the form and the page
async def get_options(request: Request) -> Response:
    server = server_of(request)
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
            for name in request.app.state.samples
        ]
    )


async def get_sample(request: Request) -> Response:
    path = request.app.state.samples.get(request.path_params["name"])  # a key, never a path
    if path is None:
        raise Refused(404, "no such sample")
    return FileResponse(path, headers={"cache-control": "max-age=3600"})


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


ROUTES = [
    Route("/", index),
    Route("/api/jobs", post_job, methods=["POST"]),
    Route("/api/jobs/{id}", get_job, methods=["GET"]),
    Route("/api/jobs/{id}", delete_job, methods=["DELETE"]),
    Route("/api/jobs/{id}/image", get_image),
    Route("/api/jobs/{id}/events", job_events),
    Route("/api/options", get_options),
    Route("/api/samples", get_samples),
    Route("/api/samples/{name}", get_sample),
]
