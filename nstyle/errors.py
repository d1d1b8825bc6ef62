"""The exception types a user is meant to see, each of its kind, and an interrupt.

A failure's kind is its class, and what a caller needs to act on it (the values to suggest,
the last good picture) are its fields: the CLI chooses its exit code and the web app its
HTTP status by kind, never by reading a message. Fields live in the instance's ``__dict__``,
which pickling keeps, so a kind and its fields cross from a Ray worker intact."""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


class NStyleError(Exception):
    """A problem the user can act on, by default in their input (a value, a flag, a file);
    the CLI prints its message as one line and exits 2. ``fields`` become attributes."""

    subject: Any = None  # the file (a Path) the message names first, when it is about one

    def __init__(self, message: str = "", **fields: Any):
        super().__init__(message)
        self.__dict__.update(fields)

    @property
    def message(self) -> str:
        return str(self)

    def restated(self, message: str) -> "NStyleError":
        """The same kind and fields with another message (the error put in context)."""
        return type(self)(message, **self.__dict__)


class TooLarge(NStyleError):
    """Over a limit (pixels, memory); ``suggested`` maps an option to the value that fits,
    when one is known."""

    suggested: dict[str, Any] = {}


class NStyleTypeError(NStyleError, TypeError):
    """An argument (an ``Options`` field, a library function's argument) of the wrong type:
    nstyle's error, and Python's ``TypeError``."""


class UnsupportedMedia(NStyleError):
    """A file that is not a readable image or video."""


class FetchFailed(NStyleError):
    """Weights that could not be downloaded."""


class Diverged(NStyleError):
    """The image became NaN or inf and retrying did not help; ``picture`` is the last good
    image (RGB uint8), when the painter had one, and ``pixels`` the same before rounding
    (float32 in 0..1: what is written, 16 bits in a PNG or TIFF)."""

    picture: Any = None
    pixels: Any = None

    @property
    def finest(self) -> Any:
        """The last good picture at its best: ``pixels`` when known, else ``picture``."""
        return self.picture if self.pixels is None else self.pixels


class FrameworkFailure(NStyleError):
    """MXNet itself failed (out of memory, a broken build), or the host ran out of memory:
    the CLI exits 1."""


def framework_failure(exc: BaseException) -> FrameworkFailure | None:
    """``exc`` as a ``FrameworkFailure`` when it is MXNet's own error (told by its type's
    name, so that a caller without MXNet loaded can ask), else None."""
    if isinstance(exc, FrameworkFailure):
        return exc
    if not any(kind.__name__ == "MXNetError" for kind in type(exc).__mro__):
        return None  # (MXNet's InternalError and others are subclasses)
    return mxnet_failed(exc)


OUT_OF_MEMORY = "out of memory; lower --max-memory or --max-long-edge"


@contextlib.contextmanager
def named_failures(settle: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Inside (a ``with`` or a decorator: ``Painter.paint``), MXNet's errors and the host's
    ``MemoryError`` (its arrays beyond a ``--max-memory`` above what is free) become a
    ``FrameworkFailure`` of one line: the library raises nstyle's kinds, never the
    frameworks'. ``settle()`` runs first (the engine's queued work, whose own failures
    would otherwise surface later, at exit)."""
    try:
        yield
    except MemoryError:
        settle()
        raise FrameworkFailure(OUT_OF_MEMORY) from None
    except Exception as exc:
        failure = framework_failure(exc)
        if failure is None or failure is exc:
            raise
        settle()
        raise failure from None


def mxnet_failed(exc: BaseException) -> FrameworkFailure:
    """MXNet's error ``exc`` as a ``FrameworkFailure`` that says, in a line, what failed."""
    return FrameworkFailure(f"MXNet failed: {framework_reason(exc)}")


def framework_reason(exc: BaseException) -> str:
    """The informative line of an exception's message: MXNet's errors start with a C++
    stack trace header and frames; the line saying what failed comes later. (It reads a
    foreign library's text: MXNet tells what failed in no other way.)"""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [
        line
        for line in lines
        if not line.startswith(("Traceback", "File ", "[bt]", "Stack trace"))
        and not line[:1].isdigit()
    ]
    for line in useful:
        if "Check failed" in line or "Error" in line or "error" in line:
            return line
    return (useful or lines or [type(exc).__name__])[0]


def one_line(message: str) -> str:
    """``message`` as one line: a newline or carriage return (a file name may hold one)
    shown as ``\\n`` or ``\\r``, so that no name can split a message or forge another."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def squeezed(text: object) -> str:
    """A foreign library's message (FFmpeg's, Ray's) with its runs of blanks and line
    breaks made single spaces."""
    return " ".join(str(text).split())


def error_line(prog: str, message: str) -> str:
    """The one line that reports a failure: ``prog: error: message``."""
    return f"{prog}: error: {one_line(message)}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, ended the way Ctrl-C ends a run (the current image is written)."""


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """The exit code of an interrupt, as a shell shows a process ended by that signal."""
    return 143 if isinstance(interrupt, Terminated) else 130
