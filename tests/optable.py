"""The op table of the tests: one row per op (and per way of calling it).

test_ops.py checks each row's value, gradient and `_op` label;
test_compiled.py runs each row in a compiled program (or checks that it is
refused); test_errors.py takes the unary rows' formulas as oracles on
special values; test_engines_agree.py and test_gradcheck.py build programs
from the rows. Adding an op = one row here.

A row names the op, builds it from the engine's Value class and the input
Values, gives the formula on plain floats, the hand-derived partial
derivatives, the expected `_op`, and the input points (away from kinks).
"""
import math
import operator
from typing import Callable, NamedTuple

import numpy as np

import pygrad


class Op(NamedTuple):
    name: str
    build: Callable      # build(V, *inputs) -> Value
    f: Callable          # f(*floats) -> float
    grad: Callable       # grad(*floats) -> tuple of partial derivatives
    label: str           # expected `_op`
    points: tuple        # input tuples
    method: str = ""     # the unary method it is (its `f` is then the special-values oracle)
    fd: bool = True      # finite differences see its gradient (not so for detach)
    compiles: bool = True   # a compiled program can replay it (a user's op cannot)


def sig(a):
    """As the engines compute it: split at 0, so that exp never overflows."""
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def microgpt_tanh(V, a):
    """tanh as a microgpt exercise writes it: a node with its local gradient."""
    t = math.tanh(a.data)
    return V(t, (a,), (1 - t ** 2,))


def micrograd_tanh(V, a):
    """tanh as micrograd writes it: a node and a `_backward` closure."""
    t = math.tanh(a.data)
    out = V(t, (a,), "tanh")

    def _backward():
        a.grad += (1 - t ** 2) * out.grad
    out._backward = _backward
    return out


def microgpt_mul(V, a, b):
    """a * b, microgpt's way, by keyword, local grads given as Values."""
    return V(a.data * b.data, children=[a, b], local_grads=[b, a])


ONE = ((1.5,), (-0.75,), (3.0,))          # generic unary points
TWO = ((1.5, -2.25), (-0.5, 4.0), (3.0, 0.125))
POS = ((0.5,), (2.0,), (7.25,))           # positive inputs (log, sqrt)

OPS = [
    # -- Value op Value ------------------------------------------------------
    Op("add", lambda V, a, b: a + b, lambda a, b: a + b, lambda a, b: (1, 1), "+", TWO),
    Op("sub", lambda V, a, b: a - b, lambda a, b: a - b, lambda a, b: (1, -1), "-", TWO),
    Op("mul", lambda V, a, b: a * b, lambda a, b: a * b, lambda a, b: (b, a), "*", TWO),
    Op("div", lambda V, a, b: a / b, lambda a, b: a / b, lambda a, b: (1 / b, -a / b**2), "/", TWO),
    Op("pow", lambda V, a, b: a ** b, lambda a, b: a ** b,
       lambda a, b: (b * a ** (b - 1), a ** b * math.log(a)), "**", ((1.5, -2.25), (0.5, 4.0), (3.0, 0.125))),
    Op("neg", lambda V, a: -a, operator.neg, lambda a: (-1,), "neg", ONE, "__neg__"),
    # -- Value op constant ---------------------------------------------------
    Op("add_int", lambda V, a: a + 2, lambda a: a + 2, lambda a: (1,), "+", ONE),
    Op("sub_float", lambda V, a: a - 0.25, lambda a: a - 0.25, lambda a: (1,), "-", ONE),
    Op("mul_np64", lambda V, a: a * np.float64(-1.5), lambda a: a * -1.5, lambda a: (-1.5,), "*", ONE),
    Op("div_int", lambda V, a: a / 4, lambda a: a / 4, lambda a: (0.25,), "/", ONE),
    Op("div_npint", lambda V, a: a / np.int64(3), lambda a: a / 3.0, lambda a: (1 / 3,), "/", ONE),
    Op("powk2", lambda V, a: a ** 2, lambda a: a ** 2, lambda a: (2 * a,), "**2", ONE),
    Op("powk3", lambda V, a: a ** 3, lambda a: a ** 3, lambda a: (3 * a ** 2,), "**3", ONE),
    Op("powk_neg1", lambda V, a: a ** -1, lambda a: a ** -1, lambda a: (-1 / a ** 2,), "**-1", ONE),
    Op("powk_half", lambda V, a: a ** 0.5, lambda a: a ** 0.5, lambda a: (0.5 / math.sqrt(a),), "**0.5", POS),
    Op("powk_npint", lambda V, a: a ** np.int64(2), lambda a: a ** 2, lambda a: (2 * a,), "**2", ONE),
    # -- constant op Value (reflected) ---------------------------------------
    Op("radd_int", lambda V, a: 3 + a, lambda a: 3 + a, lambda a: (1,), "+", ONE),
    Op("radd_float", lambda V, a: 0.5 + a, lambda a: 0.5 + a, lambda a: (1,), "+", ONE),
    Op("radd_np64", lambda V, a: np.float64(2.5) + a, lambda a: 2.5 + a, lambda a: (1,), "+", ONE),
    Op("rsub_int", lambda V, a: 3 - a, lambda a: 3 - a, lambda a: (-1,), "-", ONE),
    Op("rsub_np32", lambda V, a: np.float32(0.5) - a, lambda a: 0.5 - a, lambda a: (-1,), "-", ONE),
    Op("rmul_int", lambda V, a: 3 * a, lambda a: 3 * a, lambda a: (3,), "*", ONE),
    Op("rmul_npint", lambda V, a: np.int64(-2) * a, lambda a: -2.0 * a, lambda a: (-2,), "*", ONE),
    Op("rdiv_int", lambda V, a: 3 / a, lambda a: 3 / a, lambda a: (-3 / a ** 2,), "/", ONE),
    Op("rdiv_np64", lambda V, a: np.float64(1.5) / a, lambda a: 1.5 / a, lambda a: (-1.5 / a ** 2,), "/", ONE),
    Op("rpow_int", lambda V, a: 2 ** a, lambda a: 2 ** a, lambda a: (2 ** a * math.log(2),), "**", ONE),
    Op("rpow_np64", lambda V, a: np.float64(3.0) ** a, lambda a: 3.0 ** a,
       lambda a: (3.0 ** a * math.log(3.0),), "**", ONE),
    Op("rpow_float", lambda V, a: 0.5 ** a, lambda a: 0.5 ** a, lambda a: (0.5 ** a * math.log(0.5),), "**", ONE),
    # -- unary ---------------------------------------------------------------
    Op("relu", lambda V, a: a.relu(), lambda a: 0.0 if a < 0 else a, lambda a: (float(a > 0),), "ReLU", ONE,
       "relu"),
    Op("tanh", lambda V, a: a.tanh(), math.tanh, lambda a: (1 - math.tanh(a) ** 2,), "tanh", ONE, "tanh"),
    Op("exp", lambda V, a: a.exp(), math.exp, lambda a: (math.exp(a),), "exp", ONE, "exp"),
    Op("log", lambda V, a: a.log(), math.log, lambda a: (1 / a,), "log", POS, "log"),
    Op("sigmoid", lambda V, a: a.sigmoid(), sig, lambda a: (sig(a) * (1 - sig(a)),), "sigmoid",
       ((0.3,), (-2.0,), (5.0,)), "sigmoid"),
    Op("abs", lambda V, a: abs(a), abs, lambda a: (math.copysign(1.0, a),), "abs", ONE, "__abs__"),
    Op("sqrt", lambda V, a: a.sqrt(), math.sqrt, lambda a: (0.5 / math.sqrt(a),), "sqrt", POS, "sqrt"),
    Op("sin", lambda V, a: a.sin(), math.sin, lambda a: (math.cos(a),), "sin", ONE, "sin"),
    Op("cos", lambda V, a: a.cos(), math.cos, lambda a: (-math.sin(a),), "cos", ONE, "cos"),
    # detach: a leaf copy, so only the other factor's path carries gradient
    Op("detach", lambda V, a: a * a.detach(), lambda a: a * a, lambda a: (a,), "*", ONE, fd=False),
    # -- users' own ops: microgpt's form and micrograd's ---------------------
    Op("microgpt_tanh", microgpt_tanh, math.tanh, lambda a: (1 - math.tanh(a) ** 2,), "", ONE,
       compiles=False),
    Op("microgpt_mul", microgpt_mul, lambda a, b: a * b, lambda a, b: (b, a), "", TWO, compiles=False),
    Op("micrograd_tanh", micrograd_tanh, math.tanh, lambda a: (1 - math.tanh(a) ** 2,), "tanh", ONE,
       compiles=False),
    # -- fused n-ary ---------------------------------------------------------
    Op("sum", lambda V, *xs: V.sum(xs), lambda *xs: sum(xs), lambda *xs: (1,) * len(xs), "sum",
       ((1.5, -2.25, 0.5, 4.0), (0.1, 0.2, 0.3, 0.4))),
    Op("sum_mixed", lambda V, a, b: V.sum([a, 2.0, b, np.int64(1)]), lambda a, b: a + 2 + b + 1,
       lambda a, b: (1, 1), "sum", TWO),
    Op("dot", lambda V, w0, w1, x0, x1, b: V.dot([w0, w1], [x0, x1], b),
       lambda w0, w1, x0, x1, b: b + w0 * x0 + w1 * x1,
       lambda w0, w1, x0, x1, b: (x0, x1, w0, w1, 1), "dot",
       ((0.5, -1.5, 2.0, 3.0, 0.25), (0.1, 0.2, 0.3, 0.4, 0.5))),
    Op("dot_const_x", lambda V, w0, w1, b: V.dot([w0, w1], [1.5, -2], b),
       lambda w0, w1, b: b + w0 * 1.5 + w1 * -2.0, lambda w0, w1, b: (1.5, -2, 1), "dot",
       ((0.5, -1.5, 0.25),)),
    # -- data-chosen ops (pygrad.select: the index is a constant Value here) --
    Op("select", lambda V, a, b, c: pygrad.select(V(1.0), [a, b, c]), lambda a, b, c: b,
       lambda a, b, c: (0, 1, 0), "select", ((0.5, -1.5, 2.0), (3.0, 0.25, -7.0))),
    Op("select_neg", lambda V, a, b: pygrad.select(V(-2.0), [a, b, 4.0]) * a, lambda a, b: b * a,
       lambda a, b: (b, a), "*", TWO),
    # max_data: no gradient flows through it (finite differences agree where
    # the maximum is the constant, not a leaf)
    Op("max_data", lambda V, a, b: a * pygrad.max_data([a, 10.0, b]), lambda a, b: 10.0 * a,
       lambda a, b: (10.0, 0), "*", TWO),
    Op("max_data_node", lambda V, a, b: pygrad.max_data([b, 10.0, a]), lambda a, b: 10.0,
       lambda a, b: (0, 0), "max_data", TWO),
    # -- the tutorial's method names -----------------------------------------
    Op("plus", lambda V, a, b: a.plus(b), lambda a, b: a + b, lambda a, b: (1, 1), "+", TWO),
    Op("minus", lambda V, a, b: a.minus(b), lambda a, b: a - b, lambda a, b: (1, -1), "-", TWO),
    Op("times", lambda V, a, b: a.times(b), lambda a, b: a * b, lambda a, b: (b, a), "*", TWO),
    Op("divide", lambda V, a, b: a.divide(b), lambda a, b: a / b, lambda a, b: (1 / b, -a / b**2), "/", TWO),
    Op("pow_method", lambda V, a: a.pow(3), lambda a: a ** 3, lambda a: (3 * a ** 2,), "**3", ONE),
]


def row(name):
    """The row called name."""
    return next(op for op in OPS if op.name == name)


# The unary methods' formulas, by method name: oracles on special values.
UNARY_ORACLES = {op.method: op.f for op in OPS if op.method}
