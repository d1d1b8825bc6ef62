"""nstyle: neural style transfer (Gatys, Ecker & Bethge 2016) on MXNet executors.

    import nstyle
    image = nstyle.stylize(content, style, nstyle.Options(max_long_edge=384))

Importing this package, before anything imports MXNet, sets MXNet's threads for this
machine (``nstyle.runtime``) and loads the pip-installed CUDA libraries when present
(``nstyle.cuda``); the public names are imported on first use.
"""

from nstyle import _moved, runtime
from nstyle.cuda import preload_cuda_libraries

runtime.configure()
preload_cuda_libraries()
_moved.install()  # old module names (nstyle.images, ...) import the new modules

_PUBLIC = {
    "stylize": "nstyle.api",
    "transfer": "nstyle.api",
    "Result": "nstyle.api",
    "Iterate": "nstyle.api",
    "Painter": "nstyle.api",
    "load_weights": "nstyle.api",
    "Options": "nstyle.config",
    "NStyleError": "nstyle.errors",
    "NStyleTypeError": "nstyle.errors",
    "Temporal": "nstyle.api",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'nstyle' has no attribute {name!r}")
