"""micrograd's module name: `from pygrad.engine import Value` gives the
active engine's Value (see pygrad.use_engine)."""
from typing import Any

from ._engines import value_class


def __getattr__(name: str) -> Any:
    if name in ("Value", "ML_Framework"):
        return value_class()
    raise AttributeError(f"module 'pygrad.engine' has no attribute {name!r}")
