"""How the app says no: ``{"error": "<one line>"}`` with the HTTP status of the error's kind.

``STATUS`` maps an error's kind to its status, so no answer depends on a message's text;
``Refused`` is a refusal decided here (its status given); ``HANDLERS`` turn both, and
Starlette's own HTTP errors, into the JSON answer.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Send

from nstyle import errors
from nstyle.errors import NStyleError
from nstyle.web.jobs import QueueFull, Stopping

STOPPING = "the server is stopping"
STATUS = (  # an error's HTTP status by its kind, the first that matches
    (errors.TooLarge, 413),  # a picture over the pixel limit
    (errors.UnsupportedMedia, 415),  # not a readable image
    (QueueFull, 429),
    (Stopping, 503),
)


def status_of(exc: NStyleError, otherwise: int) -> int:
    """The HTTP status of an error by its kind (``STATUS``); a plain ``NStyleError`` is
    ``otherwise``: what was being read decides (an upload: 415, the form: 400)."""
    return next((status for kind, status in STATUS if isinstance(exc, kind)), otherwise)


class Refused(Exception):
    """A request we answer with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def queue_full(request: Request, exc: Exception) -> Response:
    """429, and when to try again."""
    assert isinstance(exc, QueueFull)
    status = status_of(exc, 400)
    return JSONResponse({"error": str(exc)}, status_code=status, headers={"retry-after": "10"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (an unknown path, a method not allowed) in the same shape."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


HANDLERS = {Refused: refused, QueueFull: queue_full, HTTPException: http_error}


async def answer(send: Send, status: int, message: str) -> None:
    """A JSON refusal sent outside the app's routes (by the guard around them)."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
