"""What MXNet needs before it loads; ``configure`` runs before that (``import nstyle``).

The process settings MXNet reads once, each a default (a value already in the environment
wins), and what MXNet 1.9.1 needs from a newer Python and numpy than it was made for.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings

# numpy 1.24 removed these aliases of the builtins (1.20 to 1.23 warn on each use); MXNet
# 1.9.1 still uses them, some when it is imported (mxnet/numpy/utils.py: `bool = onp.bool`).
NUMPY_ALIASES = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "object": object,
    "str": str,
}


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
    # One thread for the host's BLAS and LAPACK (numpy's OpenBLAS; MXNet's bundled copy too,
    # which oneDNN's operators do not use): the Wasserstein-2 term's eigendecompositions ran
    # beside MXNet's OpenMP threads, and two OpenBLAS threads contending with them on two
    # cores made a 512 x 512 eigendecomposition 10 to 20 times slower than one thread
    # (docs/BENCHMARKS.md, "Wasserstein-2 at the cost of Gram"). Set before numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # One copy of MXNet's temporary workspace on the CPU (default 4): each copy grows to the
    # largest request of the operators it serves and is never freed, and MXNet's one CPU
    # worker thread runs one operator at a time, so more copies only hold more memory. At
    # 700 px (photo to photo, three regions) they held 0.23 GiB more after the targets and
    # 0.3 GiB more at the peak (docs/BENCHMARKS.md, "Photo to photo", "Memory").
    os.environ.setdefault("MXNET_CPU_TEMP_COPY", "1")
    # MXNet prints a line per executor when oneDNN's subgraph backend is active.
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
    restore_for_mxnet()


def restore_for_mxnet() -> None:
    """Give MXNet 1.9.1 the numpy aliases it uses (as the builtins they always were, so
    numpy never warns about them) and, on Python 3.12+, ``distutils`` from setuptools."""
    import numpy

    for name, value in NUMPY_ALIASES.items():
        if name not in vars(numpy):  # set, not looked up: numpy's lookup warns or fails
            setattr(numpy, name, value)
    if sys.version_info >= (3, 12) and importlib.util.find_spec("distutils") is None:
        try:
            import setuptools  # noqa: F401  (puts its copy of distutils in place)
        except ImportError:
            pass  # `import mxnet` then names the missing module (requirements.txt has it)
