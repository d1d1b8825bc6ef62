"""What a request must pass before the app does its work: a Host header naming this server,
a same-site origin for what changes something, and an upload within its limits.

``Guard`` wraps every request (the Host and Origin checks, the security headers, and one
log line and a JSON answer for what still goes wrong, never a traceback). ``read_form``
reads a job's multipart body capped while it is read (413), kept in memory (never spooled
to a file outside the server's folder), given up when the client stalls (408) or the
server stops (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nstyle.web import options as fields
from nstyle.web.jobs import bug, log
from nstyle.web.refusals import STOPPING, Refused, answer

MAX_UPLOAD = 50 * 2**20  # bytes in one POST /api/jobs, all files together
MAX_STYLES = 8
MAX_FIELD = 64 * 2**10  # bytes of one option's text
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]
HOST = re.compile(r"(\[[0-9a-fA-F:.]*\]|[^:\[\]@/]*)(?::[0-9]{1,5})?")  # name[:port]
POLL = 0.25  # seconds between looks at whether the server is stopping, while a body is read
STALLED = 60.0  # seconds an upload may send nothing before it is refused (408)
HEADERS = {  # the page loads nothing from elsewhere, and nothing else may frame it
    "content-security-policy": "default-src 'self'; img-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


# ------------------------------------------------------------------ every request
def host_name(header: str) -> str | None:
    """The name in a Host header (``name[:port]``), lower case; None when malformed."""
    match = HOST.fullmatch(header.strip())
    return match.group(1).lower() if match else None


class Guard:
    """Around every request. Answer only requests naming one of ``hosts`` (a page of
    another site cannot reach the server by renaming its own host to this address); refuse
    a request that changes something (POST, DELETE) sent by a page of another origin; add
    the security headers. What still goes wrong is one log line and a JSON answer, never a
    traceback: a client that left gets nothing, a request the server's stop cut short 503,
    a bug 500."""

    def __init__(self, app: ASGIApp, hosts: list[str]):
        self.app, self.hosts = app, {h.lower() for h in hosts}

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """Why a request is not for this server (its status and message), or None."""
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if "*" not in self.hosts and host_name(host) not in self.hosts:
            shown = host if len(host) <= 40 else host[:40] + "..."
            names = ", ".join(sorted(self.hosts))
            return 400, f"this server answers requests for {names} only, not {shown!r}"
        if (
            scope["method"] not in ("GET", "HEAD", "OPTIONS")
            and origin
            and (origin == "null" or urlsplit(origin).netloc != host)
        ):
            return 403, "a request from another site is refused"
        return None

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

        refusal = self.refusal(scope)
        if refusal is not None:
            await answer(with_headers, *refusal)
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


# ------------------------------------------------------------------ an upload
class PastCap(Exception):
    """The body went past the upload limit while it was read."""


class MemoryParser(MultiPartParser):
    """Starlette's multipart parser, keeping files in memory: the stream it reads is
    capped, so they never outgrow it (its default spools files over 1 MB to /tmp)."""

    def __init__(self, *args: Any, limit: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.spool_max_size = limit + 1


def sanitized(name: str | None, limit: int = 100) -> str:
    """An upload's file name as a label: no control characters, not too long."""
    text = re.sub(r"[\x00-\x1f\x7f]", "?", name or "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def capped(
    request: Request, limit: int, stalled: float, stopping: threading.Event
) -> AsyncIterator[bytes]:
    """The body as it comes, ``PastCap`` past ``limit`` bytes, a look at the server's stop
    between waits, refused (408) after ``stalled`` seconds of nothing."""
    total, more, idle = 0, True, 0.0
    while more:
        try:
            message = await asyncio.wait_for(request.receive(), POLL)
        except TimeoutError:
            if stopping.is_set():
                raise Refused(503, STOPPING) from None
            idle += POLL
            if idle >= stalled:
                raise Refused(408, f"the upload stalled: nothing came for {stalled:g} s") from None
            continue
        idle = 0.0
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk, more = message.get("body", b""), message.get("more_body", False)
        total += len(chunk)
        if total > limit:
            raise PastCap
        yield chunk


async def read_form(
    request: Request, limit: int, stalled: float, stopping: threading.Event
) -> FormData:
    """The multipart body, refused (413) as soon as it passes ``limit`` bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise Refused(
            415, "POST /api/jobs takes multipart/form-data (content, style, mask, options)"
        )
    too_large = Refused(413, f"the upload is larger than {limit / 2**20:g} MB, the limit")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    parser = MemoryParser(
        request.headers,
        capped(request, limit, stalled, stopping),
        max_files=2 * MAX_STYLES + 3,  # a photo, its paintings, their masks, 2 segmentations
        max_fields=len(fields.FIELDS) + 10,
        max_part_size=MAX_FIELD,
        limit=limit,
    )
    try:
        return await parser.parse()
    except PastCap:
        raise too_large from None
    except MultiPartException as exc:
        raise Refused(400, exc.message) from None
