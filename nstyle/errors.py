"""The exception types a user is meant to see: a problem to act on, and an interrupt."""


class NStyleError(Exception):
    """A problem the user can act on; the CLI prints its message as one line and exits 2."""


def one_line(message: str) -> str:
    """``message`` as one line: a newline or carriage return (a file name may hold one)
    shown as ``\\n`` or ``\\r``, so that no name can split a message or forge another."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM, ended the way Ctrl-C ends a run (the current image is written)."""


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """The exit code of an interrupt, as a shell shows a process ended by that signal."""
    return 143 if isinstance(interrupt, Terminated) else 130
