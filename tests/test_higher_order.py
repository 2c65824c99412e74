"""Gradients of gradients: pygrad.grad, backward(create_graph=True), hvp,
hessian, jvp, gradcheck(order=2) — on both engines, against backward's own
numbers (bitwise), finite differences, closed forms, and PyTorch where it
is installed."""
import math
import random

import pytest

import pygrad

UNARY = ["tanh", "exp", "sigmoid", "relu", "__neg__", "__abs__"]


def expression(a, b):
    """Every op, as a user writes them."""
    return ((a * b).tanh() + a.sigmoid() * b.relu() + a ** b.exp() + abs(a / b)
            + (a.exp() + 2).log() - a ** 3 + (b - a) ** -1 + type(a).sum([a, b, a * a]))


def test_the_tutorials_second_derivative_is_six(engine):
    x = engine(2.0)
    y = 3 * x ** 2 - 4 * x + 5
    (dy,) = pygrad.grad(y, [x], create_graph=True)
    (d2y,) = pygrad.grad(dy, [x], create_graph=True)
    assert (dy.data, d2y.data) == (8.0, 6.0)
    (d3y,) = pygrad.grad(d2y, [x])
    assert d3y.data == 0.0


def test_newton_reaches_the_minimum_in_one_step(engine):
    f = lambda x: 3 * x ** 2 - 4 * x + 5       # noqa: E731
    df, d2f = pygrad.grad(f), pygrad.grad(pygrad.grad(f))
    x0 = 0.0
    x1 = x0 - df(x0).data / d2f(x0).data
    assert d2f(x0).data == 6.0 and x1 == 2 / 3
    assert df(x1).data == 0.0


def test_gradients_as_values_equal_backward_bit_for_bit(engine):
    rng = random.Random(5)
    for _ in range(20):
        a, b = engine(rng.uniform(0.2, 2)), engine(rng.uniform(-2, -0.2))
        y = expression(a, b)
        ga, gb = pygrad.grad(y, [a, b], create_graph=True)
        na, nb = pygrad.grad(y, [a, b])
        assert (a.grad, b.grad) == (0.0, 0.0)        # grad() leaves .grad alone
        y.backward()
        assert [repr(v) for v in (ga.data, gb.data, na.data, nb.data)] == [repr(a.grad), repr(b.grad)] * 2


def test_backward_create_graph_keeps_grad_and_gives_grad_value(engine):
    a, b = engine(0.3), engine(-1.2)
    expression(a, b).backward(create_graph=True)
    assert repr(a.grad_value.data) == repr(a.grad) and repr(b.grad_value.data) == repr(b.grad)
    (daa, dab) = pygrad.grad(a.grad_value, [a, b])
    h = pygrad.hessian(expression, [0.3, -1.2])
    assert [daa.data, dab.data] == h[0]


@pytest.mark.parametrize("op", UNARY)
def test_second_derivatives_of_each_unary_op_match_differences(engine, op):
    for x in (-1.3, -0.4, 0.6, 1.7):
        pygrad.gradcheck(lambda v: getattr(v * v + v, op)(), [x], order=2)


def test_second_derivatives_of_the_binary_ops_match_differences(engine):
    for f in (lambda a, b: a * b * a, lambda a, b: a / b, lambda a, b: a ** b, lambda a, b: (a - b) ** 3,
              lambda a, b: a.log() * b, lambda a, b: pygrad.dot([a, b], [b, a], a)):
        pygrad.gradcheck(f, [0.7, 1.9], order=2)
    with pytest.raises(pygrad.GradcheckError):
        pygrad.gradcheck(lambda a: a.relu() * a, [0.0], order=2, atol=1e-9, rtol=0)   # a kink


def test_third_order(engine):
    g = pygrad.grad(pygrad.grad(pygrad.grad(lambda x: x ** 4)))
    assert g(1.5).data == 24 * 1.5


def test_hessian_and_hvp_against_closed_forms(engine):
    f = lambda a, b: a * a * b + b.exp()    # noqa: E731
    a, b = 1.5, 0.5
    want = [[2 * b, 2 * a], [2 * a, math.exp(b)]]
    assert pygrad.hessian(f, [a, b]) == want
    assert pygrad.hvp(f, [a, b], [1.0, 2.0]) == [want[0][0] + 2 * want[0][1], want[1][0] + 2 * want[1][1]]
    value, slope = pygrad.jvp(f, [a, b], [1.0, 0.0])
    assert (value, slope) == (a * a * b + math.exp(b), 2 * a * b)


def test_an_input_the_output_ignores_gets_zero(engine):
    x, y = engine(1.0), engine(2.0)
    assert [g.data for g in pygrad.grad(x * x, [x, y])] == [2.0, 0.0]


def test_a_gradient_penalty_compiles_with_eager_numbers(engine):
    """A loss that contains a gradient, traced by compile_fn and replayed."""
    w = engine(0.7)

    def loss(x):
        y = (w * x).tanh() * x + (x - 1).relu() * w + abs(x + 0.5)
        (dx,) = pygrad.grad(y, [x], create_graph=True)
        return y * y + 0.1 * dx * dx
    f = pygrad.compile_fn(loss, params=[w])
    for x in (0.3, -1.2, 2.0, 1.5, -0.7, 0.9):   # relu's and abs's masks change between calls
        w.grad = 0.0
        got = f.accumulate(x)
        got_grad = w.grad
        w.grad = 0.0
        eager = loss(engine(x))
        eager.backward()
        assert (repr(got), repr(got_grad)) == (repr(eager.data), repr(w.grad))


X = [[0.5, -1.0], [1.5, 0.25], [-0.75, 0.5]]
Y = [1.0, -1.0, 1.0]


def mlp_loss(model, ps, relu, matvec, lift):
    """micrograd's demo loss (hinge + L2) of MLP(2, [16, 16, 1]) with its
    weights taken from ps: one text for pygrad (ps: Values) and torch."""
    total = 0
    for xrow, y in zip(X, Y):
        h, i = lift(xrow), 0
        for layer in model.layers:
            nin, nout = len(layer.neurons[0].w), len(layer.neurons)
            s = matvec(ps, i, nin, nout, h)
            i += nout * (nin + 1)
            h = relu(s) if layer.neurons[0].nonlin else s
        total = total + relu(1 - y * h[0])
    return total * (1.0 / len(X)) + 1e-4 * sum(p * p for p in ps)


@pytest.mark.slow   # importing torch takes seconds
def test_hvp_on_the_demo_mlp_against_torch(engine):
    torch = pytest.importorskip("torch")
    import pygrad.nn
    random.seed(1337)
    model = pygrad.nn.MLP(2, [16, 16, 1])
    theta = [p.data for p in model.parameters()]
    assert len(theta) == 337
    v = [random.Random(0).uniform(-1, 1) for _ in theta]

    def our_matvec(ps, i, nin, nout, h):
        rows = [ps[i + k * (nin + 1): i + (k + 1) * (nin + 1)] for k in range(nout)]
        return [sum((w * x for w, x in zip(r[:nin], h)), r[nin]) for r in rows]

    def ours(*ps):
        return mlp_loss(model, list(ps), lambda s: [x.relu() for x in s] if isinstance(s, list) else s.relu(),
                        our_matvec, lambda row: [engine(x) for x in row])

    def their_matvec(t, i, nin, nout, h):
        W = t[i:i + nout * (nin + 1)].reshape(nout, nin + 1)
        return W[:, :nin] @ h + W[:, nin]

    def theirs(t):
        return mlp_loss(model, t, torch.relu, their_matvec, lambda row: torch.tensor(row, dtype=torch.float64))

    got = pygrad.hvp(ours, theta, v)
    _, want = torch.autograd.functional.hvp(theirs, torch.tensor(theta, dtype=torch.float64),
                                            torch.tensor(v, dtype=torch.float64))
    want = want.tolist()
    scale = max(abs(x) for x in want)
    assert scale > 0 and max(abs(a - b) for a, b in zip(got, want)) <= 1e-12 * scale


@pytest.mark.slow
def test_hessian_of_small_functions_against_torch(engine):
    torch = pytest.importorskip("torch")
    fs = [(lambda a, b: (a * b).tanh() + a.exp() * b, lambda a, b: torch.tanh(a * b) + torch.exp(a) * b),
          (lambda a, b: (a / b).sigmoid() + a ** 3, lambda a, b: torch.sigmoid(a / b) + a ** 3),
          (lambda a, b: (a * a + b).log(), lambda a, b: torch.log(a * a + b))]
    for ours, theirs in fs:
        h = pygrad.hessian(ours, [0.4, 1.3])
        t = torch.autograd.functional.hessian(lambda x, f=theirs: f(x[0], x[1]),
                                              torch.tensor([0.4, 1.3], dtype=torch.float64))
        for row, trow in zip(h, t.tolist()):
            for a, b in zip(row, trow):
                assert abs(a - b) <= 1e-12 * max(1.0, abs(b))


@pytest.mark.exact_node_counts
def test_gradient_graphs_release_every_node():
    """The C sweep's temporary nodes and dropped gradient graphs all go back."""
    import gc

    from pygrad._ffi import ffi, lib
    V = pygrad.value_class("c")

    def live():
        gc.collect()
        s = ffi.new("pg_stats_t *")
        lib.pg_stats(s)
        return s.live
    before = live()
    for _ in range(2):
        a, b = V(0.3), V(-1.2)
        gs = pygrad.grad(expression(a, b), [a, b, a], create_graph=True)
        pygrad.grad(gs[0] * gs[1], [a, b])
        pygrad.hvp(expression, [V(0.3), V(-1.2)], [1.0, -1.0])
        pygrad.hessian(expression, [V(0.3), V(-1.2)])
        expression(a, b).backward(create_graph=True)
        del a, b, gs
    assert live() == before


def test_a_negative_zero_gradient_is_backwards_zero(engine):
    x = engine(0.0)
    y = x * -1.0 * 0.0 + x * 0.0         # d/dx: -0.0 + 0.0
    (g,) = pygrad.grad(y, [x], create_graph=True)
    y.backward()
    assert repr(g.data) == repr(x.grad)
    z = x * -0.0
    (g,) = pygrad.grad(z, [x], create_graph=True)
    x.grad = 0.0
    z.backward()
    assert repr(g.data) == repr(x.grad) == "0.0"


def test_grad_of_a_result_made_under_no_grad_is_refused_as_backward_is(engine):
    x = engine(2.0)
    with pygrad.no_grad():
        y = x * x
    for call in (lambda: pygrad.grad(y, [x]), lambda: pygrad.grad(y, [x], create_graph=True)):
        with pytest.raises(RuntimeError):
            call()
