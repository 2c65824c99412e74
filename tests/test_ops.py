"""Every op, from ONE table: forward value against the math formula, gradient
against the hand-derived formula and against central finite differences,
and micrograd's `_op` label, on both engines.

A row names the op, builds it from the engine's Value class and the input
Values, gives the formula on plain floats, the hand-derived partial
derivatives, the expected `_op`, and the input points (away from kinks).
Adding an op = one row here.
"""
import enum
import math
import struct
from fractions import Fraction
from typing import Callable, NamedTuple

import numpy as np
import pytest

import pygrad


class Op(NamedTuple):
    name: str
    build: Callable      # build(V, *inputs) -> Value
    f: Callable          # f(*floats) -> float
    grad: Callable       # grad(*floats) -> tuple of partial derivatives
    label: str           # expected `_op`
    points: tuple        # input tuples


def sig(a):
    return 1.0 / (1.0 + math.exp(-a))


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
    Op("neg", lambda V, a: -a, lambda a: -a, lambda a: (-1,), "neg", ONE),
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
    Op("relu", lambda V, a: a.relu(), lambda a: max(a, 0.0), lambda a: (float(a > 0),), "ReLU", ONE),
    Op("tanh", lambda V, a: a.tanh(), math.tanh, lambda a: (1 - math.tanh(a) ** 2,), "tanh", ONE),
    Op("exp", lambda V, a: a.exp(), math.exp, lambda a: (math.exp(a),), "exp", ONE),
    Op("log", lambda V, a: a.log(), math.log, lambda a: (1 / a,), "log", POS),
    Op("sigmoid", lambda V, a: a.sigmoid(), sig, lambda a: (sig(a) * (1 - sig(a)),), "sigmoid",
       ((0.3,), (-2.0,), (5.0,))),
    Op("abs", lambda V, a: abs(a), abs, lambda a: (math.copysign(1.0, a),), "abs", ONE),
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

CASES = [pytest.param(op, point, id=f"{op.name}-{i}") for op in OPS for i, point in enumerate(op.points)]


def run(V, op, point):
    """Build the op on fresh leaves, backpropagate; return (out, leaves)."""
    leaves = [V(x) for x in point]
    out = op.build(V, *leaves)
    out.backward()
    return out, leaves


@pytest.mark.parametrize("op, point", CASES)
def test_forward_matches_formula(engine, op, point):
    out, _ = run(engine, op, point)
    assert type(out) is engine
    # One or two ulps of slack: the formula may round differently from the
    # engine (sigmoid splits at 0); the engines' bitwise agreement is
    # checked in test_engines_agree.py.
    assert out.data == pytest.approx(op.f(*point), rel=1e-15, abs=0)
    assert out._op == op.label


@pytest.mark.parametrize("op, point", CASES)
def test_grad_matches_hand_derivation(engine, op, point):
    out, leaves = run(engine, op, point)
    assert out.grad == 1.0
    expected = op.grad(*point)
    assert len(expected) == len(leaves)
    for leaf, g in zip(leaves, expected):
        assert leaf.grad == pytest.approx(g, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("op, point", CASES)
def test_grad_matches_central_differences(engine, op, point):
    _, leaves = run(engine, op, point)
    h = 1e-6
    for i, leaf in enumerate(leaves):
        up = op.build(engine, *[engine(x + h if j == i else x) for j, x in enumerate(point)]).data
        down = op.build(engine, *[engine(x - h if j == i else x) for j, x in enumerate(point)]).data
        assert leaf.grad == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-7)


def test_every_op_of_the_engines_has_a_row():
    """A row per op the engines know (read from the op table, leaf aside):
    an op added to the engines without a row here fails this test."""
    from pygrad import _ops
    from pygrad.reference import Value
    built = {op.build(Value, *map(Value, op.points[0]))._opcode for op in OPS}
    assert built == set(range(1, len(_ops.OPS))), [_ops.OPS[c] for c in set(range(1, len(_ops.OPS))) - built]


def test_kinks_have_gradient_zero(engine):
    """At 0 the subgradient chosen is 0, as micrograd's ReLU and PyTorch's abs."""
    for build in (lambda x: x.relu(), abs):
        for x0 in (0.0, -0.0):
            x = engine(x0)
            build(x).backward()
            assert repr(x.grad) == "0.0"


# -- construction and attributes ----------------------------------------------------


@pytest.mark.parametrize("x, expected", [
    (2, 2.0), (-3.5, -3.5), (True, 1.0), (np.float64(0.1), 0.1), (np.float32(1.5), 1.5),
    (np.int64(-7), -7.0), (np.uint8(200), 200.0), (Fraction(1, 4), 0.25), (10 ** 20, 1e20),
])
def test_data_is_stored_as_a_python_float(engine, x, expected):
    v = engine(x)
    assert type(v.data) is float and v.data == expected
    assert type(v.grad) is float and v.grad == 0.0


@pytest.mark.parametrize("field", ["data", "grad", "value"])
def test_fields_accept_any_real_number(engine, field):
    v = engine(1.0)
    for x, expected in ((3, 3.0), (np.float32(0.5), 0.5), (False, 0.0), (-2.25, -2.25)):
        setattr(v, field, x)
        assert type(getattr(v, field)) is float and getattr(v, field) == expected


class _Two(enum.IntEnum):
    TWO = 2


@pytest.mark.parametrize("k", [0, 7, True, 10 ** 20, _Two.TWO, np.int64(3), 0.5, -0.0])
def test_number_operands_act_as_their_float(engine, k):
    """ints, bools, int subclasses and numpy scalars as operands (the fast
    paths for float and int, and the general check) act as float(k)."""
    v, f = engine(1.5), float(k)
    for got, want in ((v + k, 1.5 + f), (k + v, f + 1.5), (v * k, 1.5 * f), (k - v, f - 1.5),
                      (v - k, 1.5 - f), (k * v, f * 1.5)):
        assert struct.pack("<d", got.data) == struct.pack("<d", want), (k, got.data, want)


def test_an_int_too_big_for_a_float_is_an_overflow_error(engine):
    v = engine(1.5)
    for op in (lambda: v * 10 ** 400, lambda: 10 ** 400 + v, lambda: v ** 10 ** 400):
        with pytest.raises(OverflowError):
            op()


def test_repr_is_micrograds(engine):
    v = engine(2.0)
    v.grad = -0.5
    assert repr(v) == "Value(data=2.0, grad=-0.5)"
    assert repr(engine(1) + 2) == "Value(data=3.0, grad=0.0)"


def test_values_compare_by_identity_as_in_micrograd(engine):
    a, b = engine(1.0), engine(1.0)
    assert a == a and a != b               # same data, different nodes
    assert len({a, b, a}) == 2
