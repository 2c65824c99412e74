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
import math
import random

import pytest

import pygrad
from pygrad import nn

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


# -- dense layers: neurons over shared inputs, then maybe a relu ------------------------


def dense_net(V, rng, nin, widths, relu="all", constants=(), bias=0.0):
    """Layers of neurons (engine.dot over the previous outputs, plus relu
    per `relu`: "all", "none" or "odd" neurons), then a dot of the last
    layer's outputs into one. Weights whose (layer, neuron) is in `constants`
    are left out of the params: the program reads them as constants.
    Returns (net(inputs) -> root, params)."""
    layers, params, sizes = [], [], [nin] + list(widths)
    for li, (a, n) in enumerate(zip(sizes, sizes[1:])):
        neurons = [([V(rng.uniform(-1, 1)) for _ in range(a)], V(bias + rng.uniform(-0.5, 0.5))) for _ in range(n)]
        layers.append(neurons)
        params += [p for k, (w, b) in enumerate(neurons) if (li, k) not in constants for p in w + [b]]
    top_w, top_b = [V(rng.uniform(-1, 1)) for _ in range(sizes[-1])], V(0.1)
    params += top_w + [top_b]

    def act(k, d):
        return d.relu() if relu == "all" or (relu == "odd" and k % 2) else d

    def net(xs):
        for neurons in layers:
            xs = [act(k, V.dot(w, xs, b)) for k, (w, b) in enumerate(neurons)]
        return V.dot(top_w, xs, top_b)
    return net, params


LAYER_SHAPES = {
    # name: (nin, widths, options)
    "the demo's 2-16-16": (2, [16, 16], {}),
    "one neuron of 17 inputs": (17, [1], {"relu": "none"}),
    "33 inputs, 3 neurons": (33, [3], {}),
    "three inputs, five neurons, no relu": (3, [5], {"relu": "none"}),
    "relu on odd neurons": (4, [6, 5], {"relu": "odd"}),
    "dead relus": (3, [4, 4], {"bias": -5.0}),
    "constant weights inside": (5, [4, 18], {"constants": {(0, 1), (1, 0), (1, 3)}}),
    "one input per neuron": (1, [7, 1], {}),
}


@pytest.mark.parametrize("shape", LAYER_SHAPES)
@pytest.mark.parametrize("nrows", [4, 5, 8, 13, 21])
def test_dense_layers_equal_eager_bitwise(engine, shape, nrows):
    nin, widths, options = LAYER_SHAPES[shape]
    rng = random.Random(f"{shape} {nrows}")
    net, params = dense_net(engine, rng, nin, widths, **options)
    for start in (0.25, -0.0):
        assert_program_equals_eager(engine, net, nin, params, uniform_rows(rng, nrows, nin),
                                    scale=-0.5, start=start)


def layer_around(V, rng, kind):
    """One layer of three relu neurons over inputs, in a graph where
    something other than the layer touches its inputs or outputs."""
    w = [[V(rng.uniform(-1, 1)) for _ in range(3)] for _ in range(3)]
    b = [V(rng.uniform(-0.5, 0.5)) for _ in range(3)]
    p, c = V(0.75), V(-1.25)           # a param outside the layer, a constant
    params = [q for row in w for q in row] + b + [p]

    def net(xs):
        ins = {"param input": [xs[0], p, xs[1]],       # a param read by every neuron: row by row
               "constant input": [xs[0], c, xs[1]],
               "input computed": [xs[0] * p, xs[1].tanh(), xs[2]],
               "input twice": [xs[0], xs[0], xs[1]],   # not a layer: the same slot twice
               "outputs read twice": xs}.get(kind, xs)
        dots = [V.dot(w[k], ins, b[k]) for k in range(3)]
        hidden = [d.relu() for d in dots]
        out = V.sum([h * h for h in hidden]) + p * xs[2]
        return out + dots[1] * 0.5 if kind == "outputs read twice" else out
    return net, params


@pytest.mark.parametrize("kind", ["param input", "constant input", "input computed", "input twice",
                                  "outputs read twice"])
@pytest.mark.parametrize("nrows", [5, 16])
def test_a_layer_among_other_nodes_equals_eager_bitwise(engine, kind, nrows):
    rng = random.Random(kind)
    net, params = layer_around(engine, rng, kind)
    assert_program_equals_eager(engine, net, 3, params, uniform_rows(rng, nrows, 3), scale=0.375)


@pytest.mark.parametrize("nrows", [4, 9])
def test_a_one_neuron_layer_over_a_param_input_equals_eager_bitwise(engine, nrows):
    """A param among a single neuron's inputs: read once per row, so the
    block runs it, adding its rows' w * g into its running grad."""
    rng = random.Random(nrows)
    w, b, p = [engine(rng.uniform(-1, 1)) for _ in range(3)], engine(0.5), engine(-0.75)
    params = [p] + w + [b]
    assert_program_equals_eager(engine, lambda xs: engine.dot(w, [xs[0], p, xs[1]], b).relu(), 2, params,
                                uniform_rows(rng, nrows, 2), scale=2.0)


def test_the_demo_mlp_equals_eager_bitwise(engine):
    """micrograd's MLP(2, [16, 16, 1]) with its hinge loss (nn.Layer's fused dense calls)."""
    random.seed(3)
    model = nn.MLP(2, [16, 16, 1])
    rng = random.Random(3)
    rows = [[rng.uniform(-2, 2), rng.uniform(-2, 2), rng.choice([-1.0, 1.0])] for _ in range(37)]
    net = lambda xs: (1 + -xs[2] * model(xs[:2])).relu()   # noqa: E731
    assert_program_equals_eager(engine, net, 3, model.parameters(), rows, scale=1 / 37)


def test_a_layer_keeps_negative_zero_sums(engine):
    """Zero weights and a -0.0 bias over negative inputs: each neuron's sum
    is -0.0, which relu passes on as -0.0 (it is not < 0): so must the layer."""
    w = [[engine(0.0), engine(0.0)] for _ in range(3)]
    b = [engine(-0.0) for _ in range(3)]
    params = [p for row in w for p in row] + b

    def net(xs):
        return engine.sum([engine.dot(w[k], xs, b[k]).relu() for k in range(3)])
    rows = [[-1.0 - i, -0.5 * i - 0.25] for i in range(9)]
    assert_program_equals_eager(engine, net, 2, params, rows)
    xs = [engine(0.0), engine(0.0)]
    assert bits(pygrad.compile(net(xs), inputs=xs).forward_batch(rows)) == ["-0.0"] * 9


@pytest.mark.parametrize("bad_row", [2, 11, 20])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "accumulate"])
def test_a_failing_row_after_a_layer_is_named_and_adds_nothing(engine, bad_row, backward):
    """log of a layer's output: blocks before the bad row run in lanes, the
    bad one again row by row to name it; no param's grad changes."""
    rng = random.Random(bad_row)
    w = [[engine(rng.uniform(0.1, 1)) for _ in range(2)] for _ in range(3)]
    b = [engine(0.5) for _ in range(3)]
    params = [p for row in w for p in row] + b
    xs = [engine(0.0), engine(0.0)]
    prog = pygrad.compile(engine.sum([engine.dot(w[k], xs, b[k]).relu() for k in range(3)]).log(),
                          inputs=xs, params=params)
    rows = uniform_rows(rng, 23, 2, 0.0, 1.0)
    rows[bad_row] = [-5.0, -5.0]           # every relu dead: log(0)
    for p in params:
        p.grad = 0.125
    with pytest.raises(ValueError, match=f"^row {bad_row}: math domain error$"):
        (prog.accumulate if backward else prog.forward_batch)(rows)
    assert [p.grad for p in params] == [0.125] * len(params)


def test_layers_pass_special_values_as_eager(engine):
    """inf, nan, -0.0 and huge inputs through two relu layers: the lanes
    kernels' values and grads are eager's (NaN compares as NaN)."""
    rng = random.Random(7)
    net, params = dense_net(engine, rng, 3, [5, 6])
    specials = [math.inf, -math.inf, math.nan, -0.0, 0.0, 1e308, -1e308, 5e-324]
    rows = [[rng.choice(specials + [rng.uniform(-1, 1)]) for _ in range(3)] for _ in range(21)]
    assert_program_equals_eager(engine, net, 3, params, rows, scale=0.5)


@pytest.mark.parametrize("seed", range(12))
def test_random_dense_nets_equal_eager_bitwise(engine, seed):
    """Random widths (1 to 19 inputs and neurons, so every vector width and
    leftover column shows up), relu patterns, constant weights and row counts."""
    rng = random.Random(seed)
    nin, widths = rng.randint(1, 19), [rng.randint(1, 19) for _ in range(rng.randint(1, 2))]
    constants = {(rng.randrange(len(widths)), rng.randrange(widths[0])) for _ in range(rng.randint(0, 3))}
    net, params = dense_net(engine, rng, nin, widths, relu=rng.choice(["all", "none", "odd"]),
                            constants=constants, bias=rng.choice([0.0, -1.0]))
    assert_program_equals_eager(engine, net, nin, params, uniform_rows(rng, rng.randint(4, 30), nin),
                                scale=rng.choice([1.0, -0.25, 1 / 3]))
