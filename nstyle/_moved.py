"""Where the modules of nstyle 0.3 went in the restructure of issue 23, so that code
written against the old layout (``from nstyle.images import read_image``) keeps working.

A module that moved whole is the new module under its old name too; a module that was
split finds each name in the modules it became, in order. Nothing is imported until an
old name is.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

# old module -> the modules that hold its names now
MOVED: dict[str, tuple[str, ...]] = {
    "nstyle.images": ("nstyle.media.images",),
    "nstyle.video": ("nstyle.media.video",),
    "nstyle.temporal": ("nstyle.media.flow",),
    "nstyle.model": ("nstyle.engine.network",),
    "nstyle.losses": ("nstyle.engine.terms", "nstyle.engine.objective", "nstyle.engine.pixels"),
    "nstyle.tiles": ("nstyle.engine.tiles", "nstyle.engine.layout"),
    "nstyle.memory": ("nstyle.engine.memory",),
    "nstyle.optimize": ("nstyle.engine.solvers", "nstyle.engine.stop"),
    "nstyle.batch": ("nstyle.many.inputs", "nstyle.many.manifest"),
    "nstyle.report": ("nstyle.cli.report",),
}


class _Split(types.ModuleType):
    """An old module split in several: each name from the first new module that has it."""

    def __init__(self, name: str, targets: tuple[str, ...]):
        super().__init__(name, f"moved to {', '.join(targets)}")
        self._targets = targets

    def __getattr__(self, name: str):
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        targets = MOVED[spec.name]
        if len(targets) == 1:  # moved whole: the same module object under both names
            return importlib.import_module(targets[0])
        return _Split(spec.name, targets)

    def exec_module(self, module) -> None:
        pass


def install() -> None:
    """Let the old module names import (once per process)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.append(_Finder())


def names_in(package: str, modules: tuple[str, ...]):
    """A package's ``__getattr__`` for the names its one module had before it became the
    package (``nstyle.many.Batch``): each from the first of ``modules`` that has it. A
    submodule's own name is left to the import system."""

    def __getattr__(name: str):
        if not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is None:
            for target in modules:
                module = importlib.import_module(target)
                if hasattr(module, name):
                    return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
