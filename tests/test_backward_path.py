"""Backward down a path without a sort: while every node below the root has
at most one child that is not a leaf, the C core sweeps the nodes as it
walks down to them, and hands the rest to its depth-first sort where the
graph branches. The numbers must be micrograd's to the bit (the sweep's
order is the search's, whatever order the nodes were made in, whichever
ids they got): checked against the test's own micrograd (test_backward's),
on paths alone, paths over branching graphs, paths on reused and
interleaved ids, paths through users' ops, and a path interrupted."""
import random
import sys

import pytest
from test_backward import Node, build_twins, micrograd_backward

import pygrad


def extend_path(V, rng, top, length, leaves):
    """`length` nodes on top of the twin pair `top` = (Value, Node), each
    using the one below once (the only child that is not a leaf) and
    leaves otherwise, in every shape a path node can take: a product with a
    leaf either side, the node times itself, a wide sum with the node
    anywhere in it, and both forms of users' ops. Returns the new top."""
    v, n = top
    for _ in range(length):
        kind = rng.randrange(7)
        lv, ln = leaves[rng.randrange(len(leaves))]
        if kind == 0:
            v, n = v * lv, Node(n.data * ln.data, [n, ln], [ln.data, n.data])
        elif kind == 1:
            v, n = lv * v, Node(ln.data * n.data, [ln, n], [n.data, ln.data])
        elif kind == 2 and abs(n.data) < 4:
            v, n = v * v, Node(n.data * n.data, [n, n], [n.data, n.data])
        elif kind == 3:
            picks = [leaves[rng.randrange(len(leaves))] for _ in range(rng.randrange(1, 6))]
            at = rng.randrange(len(picks) + 1)
            vs = [p[0] for p in picks[:at]] + [v] + [p[0] for p in picks[at:]]
            ns = [p[1] for p in picks[:at]] + [n] + [p[1] for p in picks[at:]]
            data = ns[0].data
            for k in ns[1:]:
                data = data + k.data
            v, n = V.sum(vs), Node(data, ns, [1.0] * len(ns))
        elif kind == 4:      # microgpt's form: local derivatives given
            d1, d2 = factor(rng), factor(rng)
            v, n = V(0.5 * n.data, (lv, v), (d1, d2)), Node(0.5 * n.data, [ln, n], [d1, d2])
        elif kind == 5:      # micrograd's form: a backward closure, run during the sweep
            d = factor(rng)
            out = V(0.25 * n.data, (v,), "f")
            out._backward = micrograd_step(v, out, d)
            v, n = out, Node(0.25 * n.data, [n], [d])
        else:
            v, n = v + lv, Node(n.data + ln.data, [n, ln], [1.0, 1.0])
    return v, n


def micrograd_step(below, out, d):
    """micrograd's closure (its node in a cell, as micrograd writes it)."""
    def _backward():
        below.grad += d * out.grad
    return _backward


def factor(rng):
    """A local derivative near 1 in size: grads neither vanish nor blow up
    over thousands of steps."""
    return rng.choice([1.0, -1.0]) * rng.uniform(0.9, 1.1)


def leaf_twins(V, rng, count):
    xs = [rng.uniform(0.5, 1.5) * rng.choice([1.0, -1.0]) for _ in range(count)]
    return [(V(x), Node(x)) for x in xs]


def search_order_sensitive(V):
    """A branching node whose child gets its parents' gradients in the
    search's order, not creation order (test_backward's counterexample):
    1.0 by the search, 0.0 by reverse creation order."""
    x, xn = V(2.0), Node(2.0)
    p3, p2, p1 = x * -1e16, x * 1e16, x * 1.0
    n3, n2, n1 = (Node(2.0 * k, [xn, Node(k)], [k, 2.0]) for k in (-1e16, 1e16, 1.0))
    s, sn = p1 + p2, Node(n1.data + n2.data, [n1, n2], [1.0, 1.0])
    return (s + p3, Node(sn.data + n3.data, [sn, n3], [1.0, 1.0])), (x, xn)


def assert_same_grads(pairs):
    assert [repr(v.grad) for v, _ in pairs] == [repr(n.grad) for _, n in pairs]


def test_a_path_alone_is_swept_as_micrograd_does(engine):
    rng = random.Random(1)
    leaves = leaf_twins(engine, rng, 8)
    start = leaves[0]
    top = extend_path(engine, rng, start, 3000, leaves[1:])
    for _ in range(2):      # grads accumulate
        top[0].backward()
        micrograd_backward(top[1])
        assert_same_grads(leaves + [top])
    assert all(0 < abs(v.grad) < float("inf") for v, _ in leaves)


def test_a_leaf_root_gets_grad_one(engine):
    x = engine(3.0)
    x.grad = 5.0
    x.backward()
    assert repr(x.grad) == "1.0"      # set, not added: micrograd's root.grad = 1


@pytest.mark.parametrize("above, below_path, wide", [(300, False, False), (300, True, False),
                                                    (0, False, False), (300, False, True)])
def test_a_path_over_a_branching_graph_hands_over_at_the_branch(engine, above, below_path, wide):
    # The path ends at a node with two children that are not leaves (a
    # product, or a wide sum with leaves around them): from there the
    # search's order holds (the counterexample above, a random DAG, and
    # optionally another path under the branch).
    rng = random.Random(2)
    leaves = leaf_twins(engine, rng, 8)
    (q, qn), x = search_order_sensitive(engine)
    vs, ns = build_twins(engine, rng, 16, 400)
    data = ns[-40].data
    for n in ns[-39:]:
        data = data + n.data
    dag = (engine.sum(vs[-40:]), Node(data, ns[-40:], [1.0] * 40))
    if below_path:
        dag = extend_path(engine, rng, dag, 50, leaves)
    if wide:
        (a, an), (b, bn) = leaves[:2]
        data = ((an.data + qn.data) + dag[1].data) + bn.data
        branch = (engine.sum([a, q, dag[0], b]), Node(data, [an, qn, dag[1], bn], [1.0] * 4))
    else:
        branch = (q * dag[0], Node(qn.data * dag[1].data, [qn, dag[1]], [dag[1].data, qn.data]))
    top = extend_path(engine, rng, branch, above, leaves)
    for _ in range(2):
        top[0].backward()
        micrograd_backward(top[1])
        assert_same_grads(leaves + [x, top, branch] + list(zip(vs, ns)))
    assert 0 < abs(x[0].grad) < float("inf")


def test_paths_on_reused_and_interleaved_ids(engine):
    # Ids handed out again in a scrambled order after a graph died (a
    # child may then have a larger id than its parent), two paths built
    # in turns (their ids interleave), and paths grown on nodes that
    # outlived an earlier step: micrograd's bits every time.
    rng = random.Random(3)
    leaves = leaf_twins(engine, rng, 6)
    vs, ns = build_twins(engine, rng, 16, 2000)
    pairs = list(zip(vs, ns))
    rng.shuffle(pairs)
    survivors = pairs[:5]
    del vs, ns, pairs
    a, b = survivors[0], leaves[0]
    for _ in range(400):
        a = extend_path(engine, rng, a, 1, leaves)
        b = extend_path(engine, rng, b, 1, leaves)
    c = extend_path(engine, rng, survivors[1], 500, leaves)
    for top in (a, b, c, a):
        top[0].backward()
        micrograd_backward(top[1])
        assert_same_grads(leaves + survivors + [a, b, c])


def test_a_users_step_on_the_path_may_grow_the_pool(engine):
    # The closure makes enough Values that the core's pool must move; the
    # sweep goes on down the path in the moved pool.
    made = []
    need = 10
    if pygrad.get_engine() == "c":
        from pygrad.cengine import stats
        need = stats()["capacity"]   # two nodes each: the pool doubles twice, and moves
    x, xn = engine(1.5), Node(1.5)
    v, n = x * x, Node(2.25, [xn, xn], [1.5, 1.5])
    below = v * 3.0
    bn = Node(v.data * 3.0, [n, Node(3.0)], [3.0, v.data])
    out = engine(below.data, (below,), "grow")

    def step():
        made.extend(x * 2.0 for _ in range(need))
        below.grad += 0.5 * out.grad
    out._backward = step
    top = out * 2.0
    tn = Node(out.data * 2.0, [Node(out.data, [bn], [0.5]), Node(2.0)], [2.0, out.data])
    top.backward()
    micrograd_backward(tn)
    assert len(made) == need
    assert (repr(x.grad), repr(v.grad), repr(below.grad)) == (repr(xn.grad), repr(n.grad), repr(bn.grad))


@pytest.mark.skipif(sys.implementation.name == "pypy",
                    reason="no cancellation hook on PyPy: long C calls finish before a signal is handled")
def test_a_signal_stops_a_long_path(engine):
    from test_interrupt import Alarm, signal_within
    c = pygrad.get_engine() == "c"
    wide = [engine(1e-6 * i) for i in range(1000)]

    x = engine(1.0)
    root = x
    for _ in range(5000 if c else 600):   # a path of wide sums: many children a node, one not a leaf
        root = engine.sum([root] + wide)
    with pytest.raises(Alarm), signal_within(0.002, Alarm):
        root.backward()
    # It stopped inside the call: the bottom of the path got nothing yet
    # (its grad would be 1.0). The root's grad is 1 (the C core sweeps the
    # path as it walks it), or 0 if the call was stopped before any step
    # (the reference engine's sort; a signal handled just before the call).
    assert x.grad == 0.0
    assert root.grad in (0.0, 1.0)


def test_a_users_step_on_the_path_cannot_start_another_backward(engine):
    # The C core serves one sort at a time, a walk down a path included
    # (as during the sweep after a sort): RuntimeError, and the graph's
    # own backward is left whole. The reference engine simply runs it.
    x, other = engine(2.0), engine(3.0) * engine(4.0)
    out = engine(x.data, (x,), "f")
    raised = []

    def _backward():
        try:
            other.backward()
        except RuntimeError:
            raised.append(True)
        x.grad += out.grad
    out._backward = _backward
    (out * 5.0).backward()
    assert raised == ([True] if pygrad.get_engine() == "c" else [])
    assert x.grad == 5.0
