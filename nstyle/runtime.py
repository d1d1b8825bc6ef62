"""Process settings MXNet reads once, when it loads; ``configure`` runs before that.

Each is a default: a value already in the environment wins.
"""

from __future__ import annotations

import os
import sys
import warnings


def configure() -> None:
    if "mxnet" in sys.modules:
        warnings.warn(
            "MXNet was imported before nstyle: its thread settings may not apply "
            "(import nstyle first)",
            stacklevel=3,
        )
    # One OpenMP thread per core: MXNet's own default oversubscribes small machines
    # (docs/BENCHMARKS.md, "What made it fast").
    os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))
    # MXNet prints a line per executor when oneDNN's subgraph backend is active.
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
