"""A fused dense layer's call (`Value.dense(rows, biases)(xs, relu)`): on
the C handle its glue is one C call (inputs' ids in, handles out), with
Python's path for other inputs (numbers, subclasses, iterators). Every way
in must give the same bits as an independent left-to-right computation
here, handles that are the engine's Values on the right nodes, and the
same gradients."""
import random

import pytest


def expected(rows, biases, xs, relu):
    """b + w[0]*x[0] + w[1]*x[1] + ..., added left to right, then relu'd."""
    out = []
    for w, b in zip(rows, biases):
        s = b
        for wi, xi in zip(w, xs):
            s = s + wi * xi
        out.append(s if not relu or s > 0.0 else 0.0)
    return out


@pytest.mark.parametrize("nout, nin", [(1, 1), (3, 2), (16, 16), (70, 3), (2, 70)])   # past the C glue's stack buffers
@pytest.mark.parametrize("relu", [False, True])
def test_fused_call_gives_the_left_to_right_sums(engine, nout, nin, relu):
    rng = random.Random(nout * 100 + nin)
    rows = [[rng.uniform(-1, 1) for _ in range(nin)] for _ in range(nout)]
    biases = [rng.uniform(-1, 1) for _ in range(nout)]
    xs = [rng.uniform(-2, 2) for _ in range(nin)]
    ws, bs = [[engine(w) for w in r] for r in rows], [engine(b) for b in biases]
    layer = engine.dense(ws, bs)

    class Sub(engine):
        pass

    want = [repr(v) for v in expected(rows, biases, xs, relu)]
    vx = [engine(x) for x in xs]
    for inputs in (vx, tuple(vx), iter(vx), xs, [Sub(x) for x in xs], [vx[0]] + xs[1:]):
        out = layer(inputs, relu)
        assert [type(v) for v in out] == [engine] * nout
        assert [repr(v.data) for v in out] == want


def test_fused_call_outputs_are_graph_nodes_over_the_users_values(engine):
    w = [[engine(0.5), engine(-1.5)], [engine(2.0), engine(0.25)]]
    b = [engine(0.125), engine(-0.5)]
    x = [engine(3.0), engine(-2.0)]
    out = engine.dense(w, b)(x)
    loss = out[0] * out[1]
    loss.backward()
    # out0 = 0.125 + 1.5 + 3 = 4.625, out1 = -0.5 + 6 - 0.5 = 5.0 (exact in binary)
    assert (out[0].data, out[1].data) == (4.625, 5.0)
    assert [v.grad for v in x] == [0.5 * 5.0 + 2.0 * 4.625, -1.5 * 5.0 + 0.25 * 4.625]
    assert [v.grad for v in b] == [5.0, 4.625]
    prev = {id(k) for k in out[0]._prev}
    assert {id(v) for v in w[0] + x + b[:1]} <= prev       # the user's own Values, by identity


def test_fused_call_with_the_wrong_number_of_inputs_is_a_value_error(engine):
    layer = engine.dense([[engine(1.0), engine(2.0)]], [engine(0.0)])
    for xs in ([engine(1.0)], [engine(1.0)] * 3, []):
        with pytest.raises(ValueError, match="2 weights per row"):
            layer(xs)
    assert layer([engine(1.0), engine(2.0)])[0].data == 5.0


def test_fused_calls_in_a_loop_leave_no_node_behind(engine, live_nodes):
    if engine.__module__ != "pygrad.cengine":
        pytest.skip("node accounting is the C engine's")
    layer = engine.dense([[engine(0.5)] * 8] * 40, [engine(0.1)] * 40)
    xs = [engine(float(i)) for i in range(8)]
    before = live_nodes()
    for _ in range(200):
        out = layer(xs, True)
    assert len(out) == 40
    del out
    assert live_nodes() == before
