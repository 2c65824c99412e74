"""gradcheck: autograd's gradients against central finite differences.

    import pygrad
    pygrad.gradcheck(lambda x, y: (x * y).tanh() + y.log(), [0.5, 2.0])

`f` takes the input Values and returns one Value. Each input's analytic
gradient comes from one fresh `backward()`; its numeric gradient is
(f(x + eps) - f(x - eps)) / (2 eps), re-evaluating f with that input's data
nudged. An entry passes when |analytic - numeric| <= atol + rtol * |numeric|
(PyTorch's rule, with PyTorch's defaults eps=1e-6, atol=1e-5, rtol=1e-3);
NaN never passes.

The inputs are left as found: their data and grads are restored afterwards,
even if f raises. The backward pass runs with graph building on, even
inside `no_grad()`; the nudged evaluations run with it off (no graph is
needed for a value), and the caller's setting is restored. Grad mode is
per thread, so other threads build their graphs as usual meanwhile.
(Values that f uses but that are not inputs, such as a model's
parameters, do accumulate the backward pass's gradients.)
"""
import math
from dataclasses import dataclass
from typing import Any, Callable, List

from ._api import ValueBase
from ._engines import value_class
from .grad_mode import set_grad_enabled

__all__ = ["GradcheckError", "GradcheckResult", "gradcheck"]


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; `.result` says where.

    An AssertionError (PyTorch's GradcheckError is a RuntimeError) so test
    runners report it as a failed check, not as a crash."""

    def __init__(self, result: "GradcheckResult") -> None:
        super().__init__(f"gradcheck failed: {result}")
        self.result = result


@dataclass
class GradcheckResult:
    """The outcome of a gradcheck: truthy when every entry passed.

    index, analytic, numeric, abs_error, rel_error describe the worst entry
    (the one furthest outside its tolerance, in units of that tolerance);
    analytic_grads and numeric_grads hold every entry."""

    ok: bool
    index: int
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    analytic_grads: List[float]
    numeric_grads: List[float]

    def __bool__(self):
        return self.ok

    def __str__(self):
        verdict = "ok" if self.ok else "MISMATCH"
        return (f"{verdict}: worst entry is input {self.index}: analytic {self.analytic!r}, "
                f"numeric {self.numeric!r}, abs error {self.abs_error:.3g}, rel error {self.rel_error:.3g}")


def gradcheck(f: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, order: int = 1) -> "GradcheckResult":
    """Check f's autograd gradients against central finite differences.

    `inputs`: a Value or number, or a sequence of them; numbers become
    Values (of the engine of the first Value input, else the active
    engine). order=2 checks second derivatives instead: the Hessian that
    `pygrad.grad(..., create_graph=True)` differentiates, entry `[i][j]` at
    index i * n + j, against central differences of the gradient. Returns a
    GradcheckResult; raises GradcheckError instead of returning a failed
    one when `raise_exception` is true."""
    if order not in (1, 2):
        raise ValueError(f"gradcheck: order must be 1 or 2, not {order!r}")
    values = _as_values(inputs)
    saved = [(v.data, v.grad) for v in values]
    grad_was = set_grad_enabled(True)      # autograd works even inside no_grad()
    try:
        if order == 2:
            analytic, numeric = _hessian(f, values), _hessian_by_differences(f, values, eps)
        else:
            analytic = _analytic(f, values)
            set_grad_enabled(False)            # the nudged runs need values only
            numeric = [_numeric(f, values, v, eps) for v in values]
    finally:
        set_grad_enabled(grad_was)
        for v, (data, grad) in zip(values, saved):
            v.data, v.grad = data, grad
    result = _compare(analytic, numeric, atol, rtol)
    if raise_exception and not result.ok:
        raise GradcheckError(result)
    return result


def _hessian(f, values):
    from .functional import grad
    rows = []
    for g in grad(_call(f, values), values, create_graph=True):
        rows += [h.data for h in grad(g, values)]
    return rows


def _hessian_by_differences(f, values, eps):
    from .functional import grad
    columns = []
    for v in values:
        x = v.data
        v.data = x + eps
        up = [g.data for g in grad(_call(f, values), values)]
        v.data = x - eps
        down = [g.data for g in grad(_call(f, values), values)]
        v.data = x
        columns.append([(u - d) / (2.0 * eps) for u, d in zip(up, down)])
    n = len(values)
    return [columns[j][i] for i in range(n) for j in range(n)]


# ---------------------------------------------------------------------------


def _as_values(inputs):
    items = [inputs] if _is_scalar(inputs) else list(inputs)
    if not items:
        raise ValueError("gradcheck needs at least one input")
    first = next((x for x in items if isinstance(x, ValueBase)), None)
    Value = type(first) if first is not None else value_class()
    return [x if isinstance(x, ValueBase) else Value(x) for x in items]


def _is_scalar(x):
    return isinstance(x, ValueBase) or not hasattr(x, "__iter__")


def _call(f, values):
    out = f(*values)
    if not isinstance(out, ValueBase):
        raise TypeError(f"gradcheck: f must return a pygrad Value, not {type(out).__name__}")
    return out


def _analytic(f, values):
    for v in values:
        v.grad = 0.0
    _call(f, values).backward()
    # An input listed twice is one Value: its grad already holds both uses.
    return [v.grad for v in values]


def _numeric(f, values, v, eps):
    x = v.data
    v.data = x + eps
    up = _call(f, values).data
    v.data = x - eps
    down = _call(f, values).data
    v.data = x
    return (up - down) / (2.0 * eps)


def _compare(analytic, numeric, atol, rtol):
    rows = []
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        err = abs(a - n)
        tol = atol + rtol * abs(n)
        ok = err <= tol                       # False when either side is NaN
        rows.append((ok, _badness(err, tol), i, a, n, err))
    # The worst entry: a failure before any pass, then the furthest outside
    # its tolerance; the first such entry on a tie.
    _, _, i, a, n, err = max(rows, key=lambda r: (not r[0], r[1]))
    return GradcheckResult(
        ok=all(r[0] for r in rows), index=i, analytic=a, numeric=n, abs_error=err,
        rel_error=_relative(err, n), analytic_grads=list(analytic), numeric_grads=list(numeric))


def _badness(err, tol):
    """err in units of tol; NaN counts as infinitely bad."""
    if err == 0:
        return 0.0
    if tol > 0 and not math.isnan(err):
        return err / tol
    return math.inf


def _relative(err, n):
    if err == 0:
        return 0.0
    return err / abs(n) if n != 0 else math.inf
