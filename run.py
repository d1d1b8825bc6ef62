#!/usr/bin/env python3
"""nstyle command line, from a checkout: the same as the installed ``nstyle`` command.

python run.py --content-image photo.jpg --style-image painting.jpg --gpu -1
"""

import signal
import sys


def _stop(signum, frame):
    """Ctrl-C or SIGTERM while the command line is still loading: one line, no traceback."""
    print("nstyle: interrupted", file=sys.stderr)
    sys.exit(128 + signum)  # 130 for SIGINT, 143 for SIGTERM, as nstyle.cli returns


signal.signal(signal.SIGINT, _stop)
signal.signal(signal.SIGTERM, _stop)
from nstyle.cli import main  # noqa: E402  (after the handlers)

signal.signal(signal.SIGINT, signal.default_int_handler)  # main() handles them from here

if __name__ == "__main__":
    sys.exit(main(prog="run.py"))
