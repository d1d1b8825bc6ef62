"""Ctrl-C and SIGTERM while MXNet runs: an interrupt is raised only where Python is not
inside MXNet's own code, so that no array is left half made and nothing is swallowed."""

from __future__ import annotations

import os
import signal

from nstyle.errors import Terminated


class Signals:
    """Ctrl-C and SIGTERM. Raised at once, except while ``defer`` is set (MXNet runs): there a
    signal is kept and raised at the end of the epoch (``check``), a point where Python is
    not inside MXNet's own code (an exception raised in an array's ``__del__`` would be
    swallowed, one raised in its ``__init__`` leaves a half-made array). A second signal
    during the same epoch is raised as soon as Python is out of MXNet's code: at once, or
    from a timer that looks again every few milliseconds (MXNet's Python calls are short:
    its long work runs in C++, where Python handles no signal anyway). So is a first signal
    while the painter prepares (``preparing``: no epoch runs whose end would act on it; a
    big picture's or mask's preparation can take longer than an epoch)."""

    defer = False
    pending: KeyboardInterrupt | None = None
    urgent: KeyboardInterrupt | None = None  # a second signal, raised at the next safe point
    RETRY_SECONDS = 0.005

    @classmethod
    def handler(cls, signum, frame) -> None:
        interrupt = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if cls.defer and cls.pending is None and not preparing(frame):
            cls.pending = interrupt
            return
        cls.urgent = cls.urgent or interrupt
        cls._raise_when_safe(frame)

    @classmethod
    def _raise_when_safe(cls, frame) -> None:
        if inside_mxnet(frame):
            signal.setitimer(signal.ITIMER_REAL, cls.RETRY_SECONDS)  # -> retry
            return
        interrupt = cls.urgent
        cls.reset()
        if interrupt is not None:
            raise interrupt

    @classmethod
    def retry(cls, signum, frame) -> None:
        """SIGALRM's handler: the timer set while a second signal waited for a safe point."""
        cls._raise_when_safe(frame)

    @classmethod
    def check(cls) -> None:
        interrupt = cls.pending
        if interrupt is not None:
            cls.reset()
            raise interrupt

    @classmethod
    def reset(cls) -> None:
        """Nothing deferred, nothing pending, no timer (one firing later would find
        SIGALRM's default handler, which kills the process)."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        cls.defer, cls.pending, cls.urgent = False, None, None


MXNET_CODE = os.sep + "mxnet" + os.sep


def inside_mxnet(frame) -> bool:
    """Whether Python is running MXNet's own code at ``frame`` or in a caller of it."""
    while frame is not None:
        if MXNET_CODE in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


ENGINE_CODE = os.sep + os.path.join("nstyle", "engine") + os.sep
OPTIMISER = (os.path.join(ENGINE_CODE, "solvers.py")[1:], "optimize")


def preparing(frame) -> bool:
    """Whether Python is in the painter (``nstyle.engine``) but not in its optimiser at
    ``frame``: loading, building, resizing, computing targets, where no epoch will end
    soon to act on a signal."""
    in_engine = False
    while frame is not None:
        code = frame.f_code
        if code.co_name == OPTIMISER[1] and code.co_filename.endswith(OPTIMISER[0]):
            return False
        in_engine = in_engine or ENGINE_CODE in code.co_filename
        frame = frame.f_back
    return in_engine
