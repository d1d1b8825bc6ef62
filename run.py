#!/usr/bin/env python3
"""nstyle command line, from a checkout: the same as the installed ``nstyle`` command.

python run.py --content-image photo.jpg --style-image painting.jpg --gpu -1
"""

import sys

from nstyle.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="run.py"))
