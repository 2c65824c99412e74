"""pygrad.gradcheck: correct ops pass, real gradient bugs are caught (a
detached dependency, a kink), tolerances and eps mean what they say, and
the inputs are left as they were found.
"""
import math

import optable
import pytest

import pygrad
from pygrad._engines import value_class
from pygrad.gradcheck import GradcheckError, GradcheckResult, gradcheck

# (function, inputs): every op of the API, away from kinks and poles.
CORRECT = {
    "add": (lambda x, y: x + y, [0.3, -1.7]),
    "sub": (lambda x, y: x - y, [0.3, -1.7]),
    "mul": (lambda x, y: x * y, [0.3, -1.7]),
    "div": (lambda x, y: x / y, [0.3, -1.7]),
    "pow": (lambda x, y: x ** y, [1.3, -1.7]),
    "powk": (lambda x: x ** 3 + x ** -0.5, [1.3]),
    "rpow": (lambda x: 2 ** x, [0.7]),
    "constants": (lambda x: 3 - x + 2 * x - x / 4 + 1 / x, [0.7]),
    "neg": (lambda x: -x * x, [0.7]),
    "relu": (lambda x, y: x.relu() * y.relu(), [0.7, -0.2]),
    "tanh": (lambda x: x.tanh(), [0.4]),
    "exp": (lambda x: x.exp(), [0.4]),
    "log": (lambda x: x.log(), [0.4]),
    "sigmoid": (lambda x: x.sigmoid(), [-0.4]),
    "sum": (lambda *v: type(v[0]).sum(v) * v[1], [0.1, 0.2, 0.3]),
    "dot": (lambda w0, w1, x0, x1, b: type(b).dot([w0, w1], [x0, x1], b).tanh(), [0.1, -0.2, 0.3, 0.4, 0.5]),
    "composite": (lambda x, y: ((x * y).tanh() + (x ** 2).sigmoid() - y.exp() / (x + 2)).log(), [0.9, 0.4]),
}
# ... and every row of the op table (users' own ops included) that finite
# differences can see.
CORRECT.update({f"table_{op.name}": (lambda *xs, op=op: op.build(type(xs[0]), *xs), list(op.points[0]))
                for op in optable.OPS if op.fd})


@pytest.mark.parametrize("name", CORRECT)
def test_correct_gradients_pass(engine, name):
    f, points = CORRECT[name]
    result = gradcheck(f, [engine(p) for p in points])
    assert isinstance(result, GradcheckResult) and result.ok and bool(result)
    assert len(result.analytic_grads) == len(result.numeric_grads) == len(points)
    assert result.abs_error <= 1e-5 + 1e-3 * abs(result.numeric)


def test_analytic_grads_are_autograds_own(engine):
    result = gradcheck(lambda x, y: x * y, [engine(3.0), engine(-2.0)])
    assert result.analytic_grads == [-2.0, 3.0]
    assert result.numeric_grads == pytest.approx([-2.0, 3.0], rel=1e-8)


def test_a_detached_dependency_is_caught(engine):
    # x * x.data: .data is a plain float, so autograd sees d/dx = 3, not 2x = 6.
    x = engine(3.0)
    with pytest.raises(GradcheckError, match=r"input 0: analytic 3\.0, numeric 6\.0") as info:
        gradcheck(lambda v: v * v.data, [x])
    r = info.value.result
    assert isinstance(info.value, AssertionError)
    assert not r.ok and r.index == 0 and r.analytic == 3.0
    assert r.numeric == pytest.approx(6.0, rel=1e-8)
    assert r.abs_error == pytest.approx(3.0, rel=1e-8) and r.rel_error == pytest.approx(0.5, rel=1e-8)


def test_a_kink_is_caught_without_raising(engine):
    # relu at 0: autograd takes the derivative as 0, the central difference sees 1/2.
    result = gradcheck(lambda v: v.relu(), [engine(0.0)], raise_exception=False)
    assert not result and result.analytic == 0.0
    assert result.numeric == pytest.approx(0.5, rel=1e-8)
    assert str(result).startswith("MISMATCH: worst entry is input 0")


def test_the_worst_entry_is_named(engine):
    # Only c's gradient is wrong (half of it is detached).
    def f(a, b, c):
        return a * b + c * c.data + b.tanh()
    result = gradcheck(f, [engine(0.5), engine(-1.0), engine(2.0)], raise_exception=False)
    assert not result.ok and result.index == 2
    assert result.analytic == 2.0 and result.numeric == pytest.approx(4.0, rel=1e-8)
    assert result.analytic_grads[:2] == [-1.0, 0.5 + (1 - math.tanh(-1.0) ** 2)]
    with pytest.raises(GradcheckError, match="worst entry is input 2"):
        gradcheck(f, [engine(0.5), engine(-1.0), engine(2.0)])


def leak(k):
    """x + k * x.data: autograd says 1, the true slope is 1 + k (error k)."""
    return lambda x: x + k * x.data


def test_tolerances_are_honoured(engine):
    x = engine(1.0)
    assert gradcheck(leak(5e-4), [x])                          # 5e-4 <= 1e-5 + 1e-3 * 1.0005
    assert not gradcheck(leak(5e-3), [x], raise_exception=False)   # 5e-3 > 1e-5 + 1e-3 * 1.005
    assert gradcheck(leak(5e-3), [x], atol=1e-2)               # a larger atol
    assert gradcheck(leak(5e-3), [x], rtol=1e-2)               # a larger rtol
    assert not gradcheck(leak(5e-4), [x], atol=0.0, rtol=1e-4, raise_exception=False)
    r = gradcheck(leak(5e-3), [x], raise_exception=False)
    assert r.abs_error == pytest.approx(5e-3, rel=1e-5)
    assert r.rel_error == pytest.approx(5e-3 / 1.005, rel=1e-5)


def test_eps_is_the_step(engine):
    # ((1+e)^3 - (1-e)^3) / 2e = 3 + e^2: with e = 0.1 the estimate is 3.01.
    r = gradcheck(lambda v: v ** 3, [engine(1.0)], eps=0.1, raise_exception=False)
    assert r.analytic == 3.0 and r.numeric == pytest.approx(3.01, rel=1e-12)
    assert not r.ok
    assert gradcheck(lambda v: v ** 3, [engine(1.0)], eps=0.1, atol=0.011)


def test_nan_never_passes(engine):
    r = gradcheck(lambda v: v * math.nan, [engine(1.0)], raise_exception=False)
    assert not r.ok and math.isnan(r.analytic) and math.isnan(r.numeric)


def test_inputs_are_left_as_found(engine):
    x, y = engine(1.5), engine(-0.5)
    x.grad, y.grad = 7.0, -2.0
    gradcheck(lambda a, b: (a * b).exp(), [x, y])
    assert (x.data, x.grad, y.data, y.grad) == (1.5, 7.0, -0.5, -2.0)
    # ... also when f fails at a nudged point: log of a negative number at x - eps
    with pytest.raises(ValueError, match="log"):
        gradcheck(lambda a: (a - 1.5 + 1e-7).log(), [x])
    assert (x.data, x.grad) == (1.5, 7.0)


def test_grads_are_zeroed_before_backward(engine):
    x = engine(2.0)
    x.grad = 100.0               # a stale gradient must not leak into the analytic one
    assert gradcheck(lambda v: v * v, [x]).analytic == 4.0


def test_works_inside_no_grad_and_keeps_the_setting(engine):
    with pygrad.no_grad():
        r = gradcheck(lambda a, b: a * b.exp(), [engine(0.5), engine(2.0)])
        assert r.analytic_grads == [math.exp(2.0), 0.5 * math.exp(2.0)]
        assert not pygrad.is_grad_enabled()
    assert pygrad.is_grad_enabled()
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: a * a.data, [engine(2.0)])
    assert pygrad.is_grad_enabled()                   # restored after a failure too


def test_an_input_given_twice_is_one_value(engine):
    x = engine(2.0)
    r = gradcheck(lambda a, b: a * b, [x, x])
    assert r.analytic_grads == [4.0, 4.0]


def test_numbers_become_values_of_the_active_engine(engine):
    seen = []

    def f(a, b):
        seen.append((type(a), type(b)))
        return a * b
    assert gradcheck(f, [2.0, 3])
    assert set(seen) == {(engine, engine)}
    assert gradcheck(lambda a: a * a, 1.5).analytic == 3.0      # a single number


def test_numbers_follow_the_engine_of_the_value_inputs(engine):
    other = "python" if pygrad.get_engine() == "c" else "c"
    V = value_class(other)
    seen = []

    def f(a, b):
        seen.append(type(b))
        return a * b
    assert gradcheck(f, [V(2.0), 3.0])
    assert set(seen) == {V}


def test_bad_arguments(engine):
    with pytest.raises(TypeError, match="must return a pygrad Value"):
        gradcheck(lambda v: v.data * 2, [engine(1.0)])
    with pytest.raises(ValueError, match="at least one input"):
        gradcheck(lambda: engine(1.0), [])
    with pytest.raises(TypeError):
        gradcheck(lambda v: v, ["one"])
