"""Users' ops in compiled mode: microgpt's form, Value(data, children,
local_grads), compiles when its local gradients are Values (the program
recomputes the op from them); the forms a program cannot recompute are
refused at trace time, naming the op and saying how to write it.

Every compiled result is checked bitwise against eager runs of the same
function, values and grads, on inputs other than the traced one."""
import math
import warnings

import numpy as np
import pytest

import pygrad
from pygrad import TracerWarning

XS = [0.3, -1.2, 2.5, 0.0, -0.05]


def bits(x):
    return repr(float(x))


def check_against_eager(engine, f, params, xs=XS):
    """f compiled == f eager, bit for bit: the value and every param's grad."""
    cf = pygrad.compile_fn(f, params=params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TracerWarning)
        for x in xs:
            for p in params:
                p.grad = 0.0
            got = cf.accumulate(x)
            got_grads = [p.grad for p in params]
            for p in params:
                p.grad = 0.0
            out = f(engine(x))
            out.backward()
            assert bits(got) == bits(out.data), x
            assert [bits(g) for g in got_grads] == [bits(p.grad) for p in params], x
    return cf


# -- ops written microgpt's way, with Values as local gradients -----------------

def square(V, a):          # data read from .data, local gradient a Value
    return V(a.data ** 2, (a,), (2 * a,))


def tanh(V, a):            # data a Value
    t = a.tanh()
    return V(t, (a,), (1 - t * t,))


def gelu(V, a):            # data by arithmetic on .data and on a Value's data
    t = (0.7978845608 * (a + 0.044715 * a ** 3)).tanh()
    d = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * 0.7978845608 * (1 + 3 * 0.044715 * a * a)
    return V(0.5 * a.data * (1 + t.data), (a,), (d,))


def mul(V, a, b):          # two children, each other's local gradient
    return V(a.data * b.data, (a, b), (b, a))


@pytest.mark.parametrize("op", [square, tanh, gelu])
def test_a_unary_users_op_compiles_with_eagers_bits(engine, op):
    w, b = engine(0.7), engine(-0.2)
    check_against_eager(engine, lambda x: op(engine, x * w + b) * 3 + w, [w, b])


def test_the_keyword_form_with_lists_compiles(engine):
    """A packaged microgpt's Value(data, *, children=, local_grads=)."""
    w = engine(0.4)

    def op(a):
        t = a.sigmoid()
        return engine(data=t, children=[a], local_grads=[t * (1 - t)])
    check_against_eager(engine, lambda x: op(x * w) * x, [w])


def test_a_binary_users_op_and_ops_of_ops(engine):
    w, v = engine(1.3), engine(-0.4)

    def f(x):
        h = mul(engine, x, w)
        return tanh(engine, mul(engine, h, v) + square(engine, h)) - h
    check_against_eager(engine, f, [w, v])


def test_linear_layers_around_a_users_op_equal_eager(engine):
    """Dense one-row kernels (row groups) run the layers; the user's op
    (gelu) sits between them with its sides."""
    import random
    rng = random.Random(4)
    n = 9
    w1 = [[engine(rng.gauss(0, 0.5)) for _ in range(n)] for _ in range(2 * n)]
    w2 = [[engine(rng.gauss(0, 0.5)) for _ in range(2 * n)] for _ in range(n)]
    params = [p for m in (w1, w2) for row in m for p in row]

    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]

    def f(*x):
        h = [gelu(engine, v) for v in linear(list(x), w1)]
        return sum(y * y for y in linear(h, w2))
    cf = pygrad.compile_fn(f, params=params)
    rows = [[rng.uniform(-1, 1) for _ in range(n)] for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TracerWarning)
        for row in rows:
            for p in params:
                p.grad = 0.0
            got = cf.accumulate(*row)
            got_grads = [p.grad for p in params]
            for p in params:
                p.grad = 0.0
            out = f(*map(engine, row))
            out.backward()
            assert bits(got) == bits(out.data)
            assert [bits(g) for g in got_grads] == [bits(p.grad) for p in params]


def test_a_side_shaped_like_the_layer_beside_it_stays_out_of_its_group(engine):
    """A local gradient that is a dot product over the same inputs as a real
    layer's neurons (sum(v * x), as the layer's sum(w * x)): the one-row
    kernels may group like chains, but never a side with them (a group's
    backward would send the side's weights v a gradient)."""
    import random
    rng = random.Random(7)
    n = 6
    w = [[engine(rng.gauss(0, 0.5)) for _ in range(n)] for _ in range(5)]
    v = [engine(rng.gauss(0, 0.5)) for _ in range(n)]
    params = [p for row in w for p in row] + v

    def f(*x):
        y = [sum(wi * xi for wi, xi in zip(row, x)) for row in w[:2]]
        side = sum(vi * xi for vi, xi in zip(v, x))
        z = [sum(wi * xi for wi, xi in zip(row, x)) for row in w[2:]]
        return engine(y[0].data * 2, (y[0],), (side,)) + sum(y[1:] + z)
    check_against_eager(engine, lambda x: f(x, x * 2, x - 1, x * x, x + 0.5, x * 3), params)
    assert all(p.grad == 0.0 for p in v)   # the side's weights get nothing, eagerly or compiled


def test_its_sides_are_never_differentiated(engine):
    """A local gradient that uses a param (w * w) must not send that param a
    gradient of its own: only the op's children receive any."""
    w = engine(0.9)

    def f(x):
        h = x * w
        return engine(h.data * 2.0, (h,), (w * w + 1,))
    cf = check_against_eager(engine, f, [w])
    w.grad = 0.0
    x = 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TracerWarning)
        cf.accumulate(x)
    assert w.grad == x * (0.9 * 0.9 + 1)   # d/dw of the op through h = x*w only


def test_a_side_with_an_infinite_derivative_sends_nothing(engine):
    """sqrt's derivative at 0 is inf: were the side differentiated with its
    grad of 0, inf * 0 would put a NaN into w's grad."""
    w = engine(0.0)

    def f(x):
        h = x * w + x
        return engine(h.data * 2.0, (h,), (w.sqrt() + 2,))
    check_against_eager(engine, f, [w])
    assert w.grad == XS[-1] * 2.0   # the last eager run: x * (sqrt(0) + 2)


def test_sides_next_to_the_graphs_own_ops_send_nothing(engine):
    """The same, with the graph's own plain ops (tanh, exp) computed just
    before the side's ops: run together forward, never backward."""
    w = engine(0.0)

    def f(x):
        h = (x * w + x).tanh().exp()
        return engine(h.data * 2.0, (h,), (w.sqrt().exp() + 2,)) * h
    check_against_eager(engine, f, [w])


def test_a_users_op_made_in_a_side(engine):
    """The local gradient of one user's op computed by another user's op."""
    w = engine(0.6)

    def f(x):
        h = x * w
        return engine(h.data ** 3, (h,), (square(engine, h) * 3,)) + h
    check_against_eager(engine, f, [w])


def test_a_users_op_behind_a_guard(engine):
    w = engine(0.5)

    def f(x):
        h = x * w
        return square(engine, h) if h > 0 else tanh(engine, h) * 2
    cf = check_against_eager(engine, f, [w], xs=[0.3, -1.2, 2.5, -0.7])
    assert len(cf.variants(0.3)) == 2   # one program per branch


def test_forward_batch_with_a_users_op(engine):
    w = engine(0.8)
    f = lambda x: gelu(engine, x * w) + x   # noqa: E731
    cf = pygrad.compile_fn(f, params=[w])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TracerWarning)
        cf(0.5)
        got = cf.variants(0.5)[0].forward_batch(np.array([[x] for x in XS]))
        want = [f(engine(x)).data for x in XS]
    assert [bits(g) for g in got] == [bits(x) for x in want]


def test_numbers_as_data_before_any_read_are_constants(engine):
    w = engine(2.0)
    check_against_eager(engine, lambda x: engine(1.5, (x * w,), (x * w + 1,)) * w, [w])


# -- what is refused, and how it says so ------------------------------------------

def traced_error(engine, f, params):
    cf = pygrad.compile_fn(f, params=params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TracerWarning)
        with pytest.raises(TypeError) as info:
            cf(0.3)
    for p in params:
        assert p.grad == 0.0
    return str(info.value)


def test_numeric_local_gradients_are_refused_naming_the_op(engine):
    w = engine(0.5)

    def my_tanh(a):   # microgpt's own way: numbers from .data
        t = math.tanh(a.data)
        return engine(t, (a,), [1 - t ** 2])
    text = traced_error(engine, lambda x: my_tanh(x * w), [w])
    assert "local gradients are numbers" in text and "as a Value" in text


def test_a_python_backward_is_refused(engine):
    w = engine(0.5)

    def relu(a):
        out = engine(a.data if a.data > 0 else 0.0, (a,), "relu")

        def _backward():
            a.grad += (out.data > 0) * out.grad
        out._backward = _backward
        return out
    text = traced_error(engine, lambda x: relu(x * w), [w])
    assert "'relu'" in text and "_backward" in text and "local_grads" in text


def test_data_from_a_math_function_is_refused(engine):
    w = engine(0.5)

    def my_tanh(a):
        t = a.tanh()
        return engine(math.tanh(a.data), (a,), (1 - t * t,))
    text = traced_error(engine, lambda x: my_tanh(x * w), [w])
    assert "its data is a number" in text and "x.tanh()" in text


def test_a_side_needing_a_later_node_is_refused(engine):
    """Its local gradient is a node that backward's order places after the
    op: computing it first would reorder backward, so compile refuses; the
    same op whose local gradient comes from its own child compiles."""
    w = engine(0.5)

    def later(x):
        k = x * w
        return engine(x.data * 2, (x,), (k,)) + k     # the sort reaches k after the op

    def own(x):
        k = x * w
        return engine(k.data * 2, (k,), (k * k,)) + k  # k is the op's child: before it
    assert "backward reaches only after the op" in traced_error(engine, later, [w])
    check_against_eager(engine, own, [w])


def test_a_side_from_another_engine_is_a_clear_error(engine):
    other = pygrad.value_class("python" if pygrad.get_engine() == "c" else "c")
    for f in (lambda x: engine(x.data * 2, (x,), (other(2.0),)),     # a local gradient
              lambda x: engine(other(1.0), (x,), (x * 2,))):          # the data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TracerWarning)
            with pytest.raises(TypeError, match="a graph lives in one engine"):
                pygrad.compile_fn(f)(0.3)


def test_compile_of_an_eager_graph_with_a_users_op_points_to_compile_fn(engine):
    x, w = engine(0.3), engine(0.5)
    root = tanh(engine, x * w)
    with pytest.raises(TypeError, match="compile_fn"):
        pygrad.compile(root, inputs=[x], params=[w])


def test_strict_refuses_the_read(engine):
    w = engine(0.5)
    cf = pygrad.compile_fn(lambda x: square(engine, x * w), params=[w], strict=True)
    with pytest.raises(pygrad.TracerError):
        cf(0.3)


# -- the C contract, given bad customs ---------------------------------------------

def test_the_core_checks_what_it_is_given():
    C = pygrad.value_class("c")
    from pygrad._ffi import ffi, lib
    x, w = C(0.3), C(0.5)
    h = x * w
    op = C(h.data * 2, (h,), (w,))
    root = op + 1
    out = ffi.new("pg_program **")

    def compile_with(customs, n=1, nints=None):
        arr = ffi.new("int32_t[]", customs) if customs else ffi.NULL
        return lib.pg_compile_custom(root._id, 1, [x._id], 1, [w._id], 0, ffi.NULL, ffi.NULL,
                                     n, arr, len(customs) if nints is None else nints, out)
    EINVAL, ECUSTOM = lib.PG_EINVAL, lib.PG_ECUSTOM
    assert compile_with([h._id, w._id, w._id]) == EINVAL            # not a user's op
    assert compile_with([op._id, w._id]) == EINVAL                   # too short
    assert compile_with([op._id, w._id, w._id, 7]) == EINVAL         # too long
    assert compile_with([op._id, w._id, 10 ** 9]) == EINVAL          # no such node
    assert compile_with([op._id, w._id, w._id], nints=-1) == EINVAL
    assert compile_with([op._id, w._id, w._id] * 2, n=2) == EINVAL   # twice
    assert compile_with([], n=0) == ECUSTOM                          # not recorded
    assert compile_with([op._id, w._id, w._id]) == lib.PG_OK
    lib.pg_program_free(out[0])
    # Refused calls leave the core's sort free and single: a backward
    # started from a user's backward step during a sort is still refused
    # (a refused compile once released a sort it never took).
    other = C(3.0) * C(4.0)
    hook = C(x.data, (x,), "f")
    raised = []

    def _backward():
        try:
            other.backward()
        except RuntimeError:
            raised.append(True)
    hook._backward = _backward
    (hook * 5.0 + (hook * x).tanh()).backward()
    assert raised == [True]
