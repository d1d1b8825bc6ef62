"""The command line: parse the flags, check everything knowable, then call the library.

    nstyle --content-image photo.jpg --style-image painting.jpg --gpu -1
    python run.py ...            (the same, from a checkout)

Flags come from the ``Options`` and ``Outputs`` fields (``parser``). Images, options and
every file the run will write are checked before MXNet is even imported (``inputs``), so a
mistake costs a fraction of a second and one line: ``nstyle: error: ...``. One picture is
``single``, many (folders, videos, Ray) ``batch``; ``signals`` keeps an interrupt out of
MXNet's code, ``report`` shows a run's progress. Exit codes: 0 done, 2 a problem you can
fix, 1 an MXNet failure, 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from nstyle import _moved
from nstyle.cli.batch import Many, is_many
from nstyle.cli.exits import EXIT_CODES, exit_for
from nstyle.cli.parser import add_fields, build_parser, error, parse_options, shown_default
from nstyle.cli.signals import Signals
from nstyle.cli.single import Run
from nstyle.errors import NStyleError, exit_code, one_line

__all__ = [
    "EXIT_CODES",
    "add_fields",
    "build_parser",
    "error",
    "exit_for",
    "main",
    "parse_options",
    "shown_default",
]

log = logging.getLogger("nstyle")
# nstyle 0.3's other names of nstyle.cli (bundled, check_flags, inside_mxnet, ...)
__getattr__ = _moved.names_in(
    __name__,
    tuple(f"nstyle.cli.{m}" for m in ("parser", "inputs", "signals", "single", "batch")),
)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a caller may have replaced it),
    each message on one line."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))  # a file name cannot split a line


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """The ``nstyle`` command; returns the exit code."""
    previous = {s: signal.signal(s, Signals.handler) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, Signals.retry)
    try:
        return _main(
            sys.argv[1:] if argv is None else argv, prog or Path(sys.argv[0]).name or "nstyle"
        )
    except KeyboardInterrupt as interrupt:  # while starting, or a second Ctrl-C
        print("nstyle: interrupted", file=sys.stderr)
        return exit_code(interrupt)
    finally:
        Signals.reset()
        for number, handler in previous.items():
            signal.signal(number, handler)


def _main(argv: list[str], prog: str) -> int:
    run = Run(argv, prog)
    # Our messages, once: MXNet's scheduler logs on the root logger, which configures it.
    if not log.handlers:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.WARNING if run.outputs.quiet else logging.INFO)
    app = Many(run) if is_many(run.args) else run  # many pictures, or one
    try:
        return app.execute()
    except NStyleError as exc:
        error(str(exc))
        return exit_for(exc)
