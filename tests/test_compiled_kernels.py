"""The C program's fused kernels give eager's numbers bit for bit.

The C core runs some node patterns as one instruction: SUM nodes over
products (an L2 penalty), and the layers of dense networks (each neuron a
DOT over shared inputs, then maybe a RELU), for 8 rows at a time. Each test
builds a graph of such a shape, then checks the program against eager
backward calls row after row (both engines): every output and every
param's grad, bitwise (`repr`), with full blocks and short tails, signed
zeros, and the shapes that must not be fused (a product shared with another
node, a child named twice) falling back to the ordinary instructions.
"""
import random

import pytest

import pygrad

np = pytest.importorskip("numpy")


def bits(xs):
    return [repr(float(x)) for x in xs]


def assert_program_equals_eager(V, net, ninputs, params, rows, scale=1.0, start=0.25):
    """net(list of input Values) -> root. Compiled accumulate and forward_batch
    of net against eager (scale * net(row)).backward() for each row in turn."""
    xs = [V(0.0) for _ in range(ninputs)]
    prog = pygrad.compile(net(xs), inputs=xs, params=params)
    for p in params:
        p.grad = start
    expected_out = []
    for row in rows:
        out = net([V(v) for v in row])
        expected_out.append(out.data)
        (scale * out).backward()
    expected = bits(p.grad for p in params)
    for p in params:
        p.grad = start
    batch = np.array(rows, dtype=float).reshape(len(rows), ninputs)
    assert bits(prog.accumulate(batch, scale=scale)) == bits(expected_out)
    assert bits(p.grad for p in params) == expected
    assert bits(prog.forward_batch(batch)) == bits(expected_out)


def uniform_rows(rng, nrows, ncols, lo=-2.0, hi=2.0):
    return [[rng.uniform(lo, hi) for _ in range(ncols)] for _ in range(nrows)]


# -- SUM over products -------------------------------------------------------------


SUM_SHAPES = {
    # name: (ninputs, nparams, net(V, xs, ps))
    "squares (L2)": (0, 5, lambda V, xs, ps: 1e-4 * V.sum([p * p for p in ps])),
    "products of inputs": (4, 3, lambda V, xs, ps: V.sum([p * x for p, x in zip(ps, xs)] + [xs[3] * xs[3]])),
    "an input twice": (3, 3, lambda V, xs, ps: V.sum([p * x for p, x in zip(ps, xs)] + [x * x for x in xs])),
    "plain first": (2, 3, lambda V, xs, ps: V.sum([ps[0], ps[1] * xs[0], xs[1], ps[2] * xs[1].tanh()])),
    "plain last": (2, 3, lambda V, xs, ps: V.sum([ps[1] * xs[0], ps[2] * xs[1], ps[0]]).relu()),
    "a product shared": (2, 2, lambda V, xs, ps: (lambda m: V.sum([m, ps[1] * xs[1], m.exp()]))(ps[0] * xs[0])),
    "a child twice": (2, 2, lambda V, xs, ps: V.sum([ps[0] * xs[0], ps[1] * xs[0], ps[0]])),
    "one product": (1, 1, lambda V, xs, ps: V.sum([ps[0] * xs[0]])),
    "inside a chain": (2, 3, lambda V, xs, ps: ps[2] + V.sum([ps[0] * xs[0], ps[1] * xs[1]]) * xs[0]),
}


@pytest.mark.parametrize("shape", SUM_SHAPES)
@pytest.mark.parametrize("nrows", [1, 5, 8, 19])
def test_sum_of_products_equals_eager_bitwise(engine, shape, nrows):
    ninputs, nparams, net = SUM_SHAPES[shape]
    rng = random.Random(nrows)
    params = [engine(rng.uniform(-1, 1)) for _ in range(nparams)]
    rows = uniform_rows(rng, nrows, ninputs)
    assert_program_equals_eager(engine, lambda xs: net(engine, xs, params), ninputs, params, rows, scale=-0.75)


@pytest.mark.parametrize("start", [0.0, -0.0])
def test_fused_sum_passes_signed_zero_grads_as_the_reference_program(start):
    """With the SUM as the root and scale -0.0, its grad is -0.0: its plain
    children receive that (and keep a -0.0 grad), its products 0.0 + -0.0.
    The C program must do what the reference engine's replay does."""
    got = {}
    for name in ("c", "python"):
        V = pygrad.value_class(name)
        x, ps = [V(0.0), V(0.0)], [V(v) for v in (0.5, -1.5, 2.0, 0.75, -1.0)]
        prog = pygrad.compile(V.sum([ps[0], ps[1] * x[0], ps[2], ps[3] * x[1], ps[4]]), inputs=x, params=ps)
        for p in ps:
            p.grad = start
        out = prog.accumulate([[0.25, 1.0], [-3.0, 0.5], [0.0, 2.0]] * 3, scale=-0.0)
        got[name] = bits(out) + bits(p.grad for p in ps)
    assert got["c"] == got["python"]
    assert got["c"][-5:] == [repr(start), "0.0", repr(start), "0.0", repr(start)]
