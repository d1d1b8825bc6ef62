"""Process settings MXNet reads once, when it loads; ``configure`` runs before that.

Each is a default: a value already in the environment wins.
"""

from __future__ import annotations

import os


def configure() -> None:
    # One OpenMP thread per core: MXNet's own default oversubscribes small machines
    # (docs/BENCHMARKS.md, "What made it fast").
    os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))
    # MXNet prints a line per executor when oneDNN's subgraph backend is active.
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
