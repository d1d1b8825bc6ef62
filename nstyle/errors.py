"""The one exception type a user is meant to see."""


class NStyleError(Exception):
    """A problem the user can act on; the CLI prints its message as one line and exits 2."""
