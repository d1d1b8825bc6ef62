"""The one exception type a user is meant to see."""


class NStyleError(Exception):
    """A problem the user can act on; the CLI prints its message as one line and exits 2."""


def one_line(message: str) -> str:
    """``message`` as one line: a newline or carriage return (a file name may hold one)
    shown as ``\\n`` or ``\\r``, so that no name can split a message or forge another."""
    return message.replace("\r", "\\r").replace("\n", "\\n")
