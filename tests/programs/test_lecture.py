"""The micrograd lecture's flow: Values built with labels, labels set
afterwards, backpropagation stepped by hand (`o.grad = 1.0; o._backward()`),
a tanh neuron (and the same with tanh spelled out in exp), and a
`draw_dot` that names graph nodes by id() while walking `_prev`."""
import math

import pytest

from .reference import Value as Ref


def expression(Value):
    """L = (a*b + c) * f, backpropagated by hand, node by node."""
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    f = Value(-2.0, label="f")
    L = d * f
    L.label = "L"
    L.grad = 1.0
    L._backward()
    d._backward()
    e._backward()
    return L, [a, b, c, d, e, f, L]


def neuron(Value, spelled_out=False):
    """o = tanh(x1*w1 + x2*w2 + b), by hand step by step; returns o and its nodes."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b
    n.label = "n"
    if spelled_out:                        # tanh from exp: (e^2n - 1) / (e^2n + 1)
        e = (2 * n).exp()
        o = (e - 1) / (e + 1)
    else:
        o = n.tanh()
    o.label = "o"
    return o, [x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n, o]


def trace(root):
    """The lecture's draw_dot walk: nodes and edges, kept by id()."""
    nodes, edges = {}, set()

    def build(v):
        if id(v) not in nodes:
            nodes[id(v)] = v
            for child in v._prev:
                edges.add((id(child), id(v)))
                build(child)
    build(root)
    return nodes, edges


def draw_dot(root):
    """What draw_dot shows: each node's label, data and grad, and its op;
    edges from child to parent (by label), as sets."""
    nodes, edges = trace(root)
    shown = {(n.label, round(n.data, 4), round(n.grad, 4), n._op) for n in nodes.values()}
    return shown, {(nodes[a].label, nodes[b].label) for a, b in edges}


def numbers(nodes):
    return [(v.label, v.data, v.grad) for v in nodes]


def test_hand_stepped_backprop(engine):
    L, nodes = expression(engine)
    assert numbers(nodes) == numbers(expression(Ref)[1])
    assert [v.grad for v in nodes] == [6.0, -4.0, -2.0, -2.0, -2.0, 4.0, 1.0]
    assert L.data == -8.0


def test_the_neuron_stepped_by_hand_equals_backward(engine):
    o, nodes = neuron(engine)
    o.grad = 1.0
    for v in reversed(nodes):              # the lecture's order: from o down to the leaves
        v._backward()
    by_hand = numbers(nodes)
    o2, nodes2 = neuron(engine)
    o2.backward()
    assert numbers(nodes2) == by_hand
    assert f"{o.data:.4f}" == "0.7071" and [round(v.grad, 4) for v in nodes[:4]] == [-1.5, 0.5, 1.0, 0.0]


@pytest.mark.parametrize("spelled_out", [False, True], ids=["tanh", "exp"])
def test_the_neuron_against_the_reference(engine, spelled_out):
    (o, nodes), (ref_o, ref_nodes) = neuron(engine, spelled_out), neuron(Ref, spelled_out)
    o.backward()
    ref_o.backward()
    for (label, data, grad), (_, ref_data, ref_grad) in zip(numbers(nodes), numbers(ref_nodes)):
        assert data == pytest.approx(ref_data, rel=1e-12), label
        assert grad == pytest.approx(ref_grad, rel=1e-9, abs=1e-12), label
    assert o.data == pytest.approx(math.sqrt(0.5), rel=1e-12)


def test_draw_dot_by_id_sees_micrograds_graph(engine):
    # The notebook keeps every labelled Value in a variable: `held`, here.
    (o, held), (ref_o, _) = neuron(engine), neuron(Ref)
    o.backward()
    ref_o.backward()
    nodes, edges = trace(o)
    assert (len(nodes), len(edges)) == (10, 9)                 # each node once, as micrograd walks it
    assert set(nodes) == {id(v) for v in held}                  # the user's own objects
    assert draw_dot(o) == draw_dot(ref_o)


def test_draw_dot_by_id_on_the_spelled_out_tanh(engine):
    # pygrad's `-` and `/` are one node each (micrograd's are `+ (-b)` and
    # `* b**-1`), so this graph is smaller; the walk must still be sound.
    o, held = neuron(engine, spelled_out=True)
    o.backward()
    nodes, edges = trace(o)
    assert all(a in nodes and b in nodes for a, b in edges)     # no edge to an undeclared node
    assert {id(v) for v in held} <= set(nodes)


def test_a_node_used_twice(engine):
    # The lecture's bug hunt: b = a + a must give a.grad == 2, and a is drawn once.
    a = engine(3.0, label="a")
    b = a + a
    b.label = "b"
    b.backward()
    assert a.grad == 2.0
    nodes, edges = trace(b)
    assert len(nodes) == 2 and edges == {(id(a), id(b))}
    assert any(c is a for c in b._prev)
