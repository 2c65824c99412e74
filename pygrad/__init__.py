"""pygrad: scalar autograd with its graph and backward pass in C.

    import pygrad
    x = pygrad.Value(2.0)
    y = 3 * x**2 - 4 * x + 5
    y.backward()            # x.grad == 8.0

Two engines share one API: "c" (the C core, the default) and "python" (the
pure-Python reference). Choose with PYGRAD_ENGINE=c|python or
`pygrad.use_engine(...)`; `pygrad.Value`, `pygrad.engine.Value` and
`pygrad.nn` follow the active engine.
"""
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import optim
from ._engines import ENGINES, get_engine, use_engine, value_class
from ._select import max_data, select
from ._trace import TracerError, TracerWarning
from .compiled import CompiledFunction, Program, compile, compile_fn
from .functional import grad, hessian, hvp, jvp
from .grad_mode import is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .viz import draw, show, step_through, to_dot

__version__ = "0.1.0"
__all__ = ["Value", "ML_Framework", "use_engine", "get_engine", "value_class", "ENGINES", "sum", "dot",
           "compile", "compile_fn", "CompiledFunction", "Program", "select", "max_data", "optim",
           "no_grad", "set_grad_enabled", "is_grad_enabled", "TracerError", "TracerWarning",
           "grad", "hvp", "hessian", "jvp",
           "gradcheck", "GradcheckError", "to_dot", "draw", "show", "step_through", "__version__"]


if TYPE_CHECKING:
    # For type checkers, `pygrad.Value` is what both engines' Values are (at
    # run time it is the active engine's class, from __getattr__ below).
    from ._api import Operand
    from ._api import ValueBase as Value
    ML_Framework = Value


def sum(values: "Iterable[Operand]") -> "Value":  # noqa: A001  (pygrad.sum, like numpy.sum)
    """One fused node for the sum of `values`, on the active engine."""
    return value_class().sum(values)


def dot(ws: "Sequence[Operand]", xs: "Sequence[Operand]", b: "Operand") -> "Value":
    """One fused node for b + sum(w * x), on the active engine."""
    return value_class().dot(ws, xs, b)


def __getattr__(name: str) -> Any:
    # Module attributes that follow the active engine.
    if name in ("Value", "ML_Framework"):
        return value_class()
    raise AttributeError(f"module 'pygrad' has no attribute {name!r}")
