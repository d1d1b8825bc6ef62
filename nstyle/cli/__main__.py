"""``python -m nstyle.cli``: the ``nstyle`` command."""

import sys

from nstyle.cli import main

sys.exit(main(prog="python -m nstyle.cli"))
