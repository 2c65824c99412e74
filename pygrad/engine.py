"""micrograd's import path: `from pygrad.engine import Value` gives the
active engine's Value (see pygrad.use_engine), so a micrograd program runs
by changing only its imports."""
from typing import TYPE_CHECKING, Any

from ._engines import value_class

# Names listed here are this module's public API, for type checkers too
# (pyright reads an `import X as Y` as private unless it is listed).
__all__ = ["Value", "ML_Framework"]

if TYPE_CHECKING:
    from ._api import ValueBase as Value
    ML_Framework = Value


def __getattr__(name: str) -> Any:
    if name in ("Value", "ML_Framework"):
        return value_class()
    raise AttributeError(f"module 'pygrad.engine' has no attribute {name!r}")
