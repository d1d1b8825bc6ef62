"""The command's exit codes, by the kind of error (``nstyle.errors``), never by its text:
0 done, 1 the framework failed (MXNet, or the host out of memory), 2 a problem the user can
fix, 130 Ctrl-C and 143 SIGTERM (``errors.exit_code``)."""

from __future__ import annotations

from nstyle.errors import FrameworkFailure, NStyleError

EXIT_CODES = ((FrameworkFailure, 1), (NStyleError, 2))  # by kind, the first that matches


def exit_for(failure: NStyleError) -> int:
    """The exit code of a failure, by its kind (a user's mistake: 2)."""
    return next(code for kind, code in EXIT_CODES if isinstance(failure, kind))


def exit_for_failures(failed: list[NStyleError]) -> int:
    """A batch's exit code by its failures' kinds: 1 if every one is the framework's, else 2."""
    return max(exit_for(failure) for failure in failed)
