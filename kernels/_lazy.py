"""Lazy package exports (PEP 562): a package names its public API without importing its modules
until a name is first used. The Dagster code location imports every asset module, and every run is
a new process that imports the code location, so kernels that pull in numba or scipy are imported
by the runs that compute with them, not by every run."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any


class _LazyPackage(types.ModuleType):
    """A package whose exported names win over its submodules of the same name: importing
    ``kernels.planning.backtest`` sets the package's ``backtest`` to the submodule, where the eager
    ``from .backtest import backtest`` used to put the function back."""

    _exports: Mapping[str, str] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in type(self)._exports:
            return  # the name stays the export (resolved by __getattr__); the module is in sys.modules
        super().__setattr__(name, value)


def attach(
    package: str, modules: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose ``modules`` map each submodule (relative to
    the package) to the public names it defines."""
    exports = {name: module for module, names in modules.items() for name in names}
    sys.modules[package].__class__ = type("LazyPackage", (_LazyPackage,), {"_exports": exports})

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        sys.modules[package].__dict__[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
