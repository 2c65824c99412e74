"""Every op, from ONE table (tests/optable.py): forward value against the
math formula, gradient against the hand-derived formula and against central
finite differences, and micrograd's `_op` label, on both engines.
"""
import enum
import struct
from fractions import Fraction

import numpy as np
import pytest
from optable import OPS

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
    if not op.fd:
        pytest.skip("no gradient flows where finite differences see one (detach)")
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


def test_sin_and_cos_derivatives_at_infinity_are_nan_not_an_error(engine):
    """A node made at a finite value whose input becomes inf: backward's
    derivatives follow IEEE (sin(inf) is NaN in C), on both engines; only
    the forward rules raise, as Python's math does."""
    import math as _math
    for op in ("sin", "cos"):
        x = engine(float("nan"))
        y = getattr(x, op)()
        x.data = float("inf")
        y.backward()
        assert _math.isnan(x.grad)
