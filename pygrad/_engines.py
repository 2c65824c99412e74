"""The engine switch: which `Value` class `pygrad.Value` means right now.

PYGRAD_ENGINE=c|python chooses at import (default "c"); `use_engine()`
switches at run time. Engines are imported on first use, so the pure-Python
engine works even where the C core is not built.
"""
import importlib
import os
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Optional, Type

from ._coreinfo import why_no_core

if TYPE_CHECKING:
    from ._api import ValueBase

ENGINES = {"c": "pygrad.cengine", "python": "pygrad.reference"}
_active: Optional[str] = None


def _check_name(name: str) -> None:
    if name not in ENGINES:
        raise ValueError(f"unknown pygrad engine {name!r}; valid engines: {', '.join(map(repr, ENGINES))}")


def use_engine(name: str) -> "Type[ValueBase]":
    """Make `name` ("c" or "python") the active engine; returns its Value class."""
    global _active
    _check_name(name)
    cls = importlib.import_module(ENGINES[name]).Value
    _active = name
    return cls


def get_engine() -> str:
    """The active engine's name: "c" or "python"."""
    if _active is None:
        _init_from_environment()
    assert _active is not None
    return _active


def value_class(name: Optional[str] = None) -> "Type[ValueBase]":
    """The Value class of engine `name` (default: the active one)."""
    name = name or get_engine()
    _check_name(name)
    return importlib.import_module(ENGINES[name]).Value


def engine_class(v: object) -> "Type[ValueBase]":
    """The engine Value class that v is an instance of: v's own class may
    be a user's subclass of it. TypeError if v is no engine's Value."""
    for module in ENGINES.values():
        m = sys.modules.get(module)     # an engine whose module is not imported made no Values
        if m is not None and isinstance(v, m.Value):
            return m.Value
    raise TypeError(f"expected a pygrad Value, not {type(v).__name__}")


def cengine_or_none() -> Optional[ModuleType]:
    """The C engine's module, or None where the C core is not built."""
    try:
        return importlib.import_module(ENGINES["c"])
    except ImportError:
        return None


def _init_from_environment() -> None:
    name = os.environ.get("PYGRAD_ENGINE", "").strip().lower()
    if name:
        use_engine(name)        # asked for by name: failure is an error
        return
    try:
        use_engine("c")
    except ImportError:  # the default only: fall back, and say so
        warnings.warn(fallback_message(), RuntimeWarning, stacklevel=3)
        use_engine("python")


def fallback_message() -> str:
    """The warning given when the default engine cannot be the C engine."""
    from ._ffi import LOAD_ERROR
    return (f"pygrad is using its pure-Python engine (same results, 10-100x slower) because "
            f"{why_no_core(LOAD_ERROR)}. Set PYGRAD_ENGINE=python to choose that engine and silence this warning.")
