"""backward(): accumulation like micrograd, reused nodes, single steps,
graph introspection, and deep and wide graphs with exact gradients."""
import math

import pytest

import pygrad

C = pygrad.value_class("c")

# -- accumulation --------------------------------------------------------------


def test_grads_accumulate_across_two_backward_calls(engine):
    x = engine(3.0)
    y = x * x
    y.backward()
    assert x.grad == 6.0
    y.backward()                      # micrograd does not zero: 6 + 6
    assert x.grad == 12.0
    assert y.grad == 1.0              # the root's grad is set, not accumulated


def test_second_backward_reuses_accumulated_intermediate_grads(engine):
    # micrograd's rule: only the root's grad is reset. The intermediate t
    # keeps 1 from the first call and reaches 2, so x gains 2 * 2 more.
    x = engine(3.0)
    t = x * 2
    y = t + 1
    y.backward()
    assert (t.grad, x.grad) == (1.0, 2.0)
    y.backward()
    assert (t.grad, x.grad) == (2.0, 6.0)


def test_zeroing_grads_makes_backward_repeatable(engine):
    x, w = engine(0.5), engine(-1.25)
    p = x * w
    y = p.tanh()
    y.backward()
    first = (x.grad, w.grad)
    for v in (x, w, p, y):            # every node, intermediates too
        v.grad = 0.0
    y.backward()
    assert (x.grad, w.grad) == first


def test_accumulation_matches_micrograd(engine):
    micrograd = pytest.importorskip("micrograd.engine")

    def program(V):
        # Only ops that micrograd builds with the same graph shape: after a
        # second backward a node's grad depends on its depth below the root.
        a, b = V(-4.0), V(2.0)
        c = a + b
        d = a * b + b ** 3
        e = (c * d).relu()
        f = e ** 2 + 2 * a
        f.backward()
        f.backward()
        return [v.data for v in (a, b, f)] + [v.grad for v in (a, b, c, d, e)]

    ours, theirs = program(engine), program(micrograd.Value)
    assert ours == pytest.approx(theirs, rel=1e-12)


# -- reused nodes (a pre-order traversal gets these wrong) ---------------------


def test_reused_sum_node(engine):
    a = engine(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert (c.data, b.grad, a.grad) == (12.0, 2.0, 4.0)


def test_reused_node_feeding_its_own_consumer(engine):
    a, b = engine(2.0), engine(3.0)
    x = a + b
    y = x * a                          # y = a^2 + ab
    y.backward()
    assert y.data == 10.0
    assert (a.grad, b.grad, x.grad) == (2 * 2.0 + 3.0, 2.0, 2.0)


def test_diamond(engine):
    x = engine(0.5)
    h = x * 3                          # shared by both branches
    y = h.tanh() * h.exp()
    y.backward()
    th, ex = math.tanh(1.5), math.exp(1.5)
    assert x.grad == pytest.approx(3 * ((1 - th * th) * ex + th * ex), rel=1e-14)


# -- one step at a time, as in Karpathy's lecture ------------------------------


def test_single_backward_steps_by_hand(engine):
    x1, x2, w1, w2 = engine(2.0), engine(0.0), engine(-3.0), engine(1.0)
    b = engine(6.8813735870195432)
    x1w1, x2w2 = x1 * w1, x2 * w2
    n = x1w1 + x2w2 + b
    o = n.tanh()
    o.grad = 1.0
    o._backward()
    assert n.grad == pytest.approx(1 - o.data ** 2, rel=1e-15)
    assert n.grad == pytest.approx(0.5, rel=1e-9)
    n._backward()                      # n = (x1w1 + x2w2) + b
    assert b.grad == n.grad
    x1w1x2w2 = next(iter(n._prev - {b}))
    x1w1x2w2._backward()
    x1w1._backward()
    x2w2._backward()
    assert (x1.grad, w1.grad) == (w1.data * n.grad, x1.data * n.grad)
    assert (x2.grad, w2.grad) == (w2.data * n.grad, x2.data * n.grad)


def test_backward_step_on_a_leaf_does_nothing(engine):
    x = engine(2.0)
    x.grad = 5.0
    x._backward()
    assert x.grad == 5.0


def test_manual_steps_in_reverse_topological_order_equal_backward(engine):
    def graph(V):
        # Every node, in creation order (which is a topological order).
        a, b = V(0.7), V(-1.3)
        c = a * b
        d = c.exp()
        e = d + a
        f = e.log()
        g = c.sigmoid()
        h = f - g
        return (a, b, c, d, e, f, g, h)

    auto = graph(engine)
    auto[-1].backward()
    manual = graph(engine)
    manual[-1].grad = 1.0
    for node in reversed(manual):
        node._backward()
    assert [v.grad for v in manual] == [v.grad for v in auto]


# -- introspection: _prev and _op ----------------------------------------------


def test_prev_and_op_of_a_leaf(engine):
    x = engine(1.0)
    assert x._prev == set()
    assert x._op == ""


@pytest.mark.parametrize("build, label", [
    (lambda a, b: a + b, "+"), (lambda a, b: a * b, "*"), (lambda a, b: a - b, "-"),
    (lambda a, b: a / b, "/"), (lambda a, b: a ** b, "**"),
])
def test_prev_of_binary_nodes_holds_the_operands(engine, build, label):
    a, b = engine(2.0), engine(3.0)
    c = build(a, b)
    assert c._prev == {a, b}
    assert a in c._prev and b in c._prev
    assert c._op == label


@pytest.mark.parametrize("build, label", [
    (lambda a: a.relu(), "ReLU"), (lambda a: a.tanh(), "tanh"), (lambda a: a.exp(), "exp"),
    (lambda a: a.log(), "log"), (lambda a: a.sigmoid(), "sigmoid"), (lambda a: -a, "neg"),
    (lambda a: a ** 2, "**2"), (lambda a: a ** -1, "**-1"), (lambda a: a ** 0.5, "**0.5"),
])
def test_prev_of_unary_nodes_is_the_operand_only(engine, build, label):
    # micrograd keeps a constant exponent out of _prev.
    a = engine(2.0)
    c = build(a)
    assert c._prev == {a}
    assert c._op == label


def test_prev_of_a_reflected_op_holds_the_constant_as_a_leaf(engine):
    a = engine(2.0)
    c = 5 - a
    assert a in c._prev and len(c._prev) == 2
    (const,) = c._prev - {a}
    assert (const.data, const._op, const._prev) == (5.0, "", set())


def test_prev_of_a_shared_operand_is_one_element(engine):
    a = engine(2.0)
    assert (a * a)._prev == {a}


def test_prev_of_fused_nodes(engine):
    ws = [engine(0.5), engine(-1.0)]
    xs = [engine(2.0), engine(3.0)]
    b = engine(0.25)
    d = engine.dot(ws, xs, b)
    assert d._prev == {*ws, *xs, b} and d._op == "dot"
    s = engine.sum(xs + [b])
    assert s._prev == {*xs, b} and s._op == "sum"


def test_graph_walk_through_prev_reaches_every_node(engine):
    # draw_dot's trace(): follow _prev from the root.
    a, b = engine(1.0), engine(2.0)
    c = a * b
    d = (c + a).tanh()
    nodes, stack = set(), [d]
    while stack:
        v = stack.pop()
        if v not in nodes:
            nodes.add(v)
            stack.extend(v._prev)
    assert {a, b, c, d} <= nodes and len(nodes) == 5


# -- deep and wide graphs -------------------------------------------------------

DEPTH = {"c": 1_000_000, "python": 100_000}


@pytest.mark.slow
def test_deep_chain_has_the_exact_gradient(engine):
    # acc = acc * 1.0 + x, DEPTH op nodes deep: every step adds exactly 0.5
    # and passes the gradient through unchanged, so x.grad is the step count.
    steps = DEPTH[pygrad.get_engine()] // 2
    x, start = engine(0.5), engine(0.0)
    acc = start
    for _ in range(steps):
        acc = acc * 1.0 + x
    acc.backward()
    assert acc.data == 0.5 * steps
    assert x.grad == float(steps)
    assert start.grad == 1.0


@pytest.mark.slow
def test_dropping_a_deep_chain_frees_it(live_nodes):
    # Releasing must be iterative: a recursive free would overflow the C stack.
    before = live_nodes()
    acc = C(1.0)
    for _ in range(DEPTH["c"]):
        acc = acc + 1.0
    assert live_nodes() == before + 2 * DEPTH["c"] + 1
    del acc
    assert live_nodes() == before


@pytest.mark.slow
def test_ten_times_deeper_chain(engine):
    # Issue 4's depth: 1e7 nodes on C, 1e6 on the reference; one op a step.
    steps = 10 * DEPTH[pygrad.get_engine()]
    x = engine(0.25)
    acc = x
    for _ in range(steps):
        acc = acc + x
    acc.backward()
    assert acc.data == 0.25 * (steps + 1)
    assert x.grad == float(steps + 1)


@pytest.mark.slow
def test_node_with_many_parents(engine):
    n = {"c": 1_000_000, "python": 100_000}[pygrad.get_engine()]
    a = engine(2.0)
    parents = [a * float(i % 7) for i in range(n)]   # a feeds n parents
    total = engine.sum(parents)
    total.backward()
    assert a.grad == float(sum(i % 7 for i in range(n)))
    assert total.data == 2.0 * a.grad


@pytest.mark.slow
def test_node_with_many_children(engine):
    n = {"c": 1_000_000, "python": 100_000}[pygrad.get_engine()]
    leaves = [engine(float(i % 5)) for i in range(n)]
    total = engine.sum(leaves)
    (total * 3.0).backward()
    assert total.data == float(sum(i % 5 for i in range(n)))
    assert all(leaf.grad == 3.0 for leaf in leaves)


@pytest.mark.slow
def test_wide_dot(engine):
    n = 100_000
    ws = [engine(float(i % 3) - 1.0) for i in range(n)]
    xs = [engine(float(i % 4)) for i in range(n)]
    d = engine.dot(ws, xs, engine(0.5))
    d.backward()
    assert d.data == 0.5 + sum((i % 3 - 1.0) * (i % 4) for i in range(n))
    assert [w.grad for w in ws[:8]] == [x.data for x in xs[:8]]


def test_gradients_add_up_in_the_documented_order(engine):
    # Both engines sort by depth-first search from the root, operands in
    # order, and sweep that order backwards: x's three parents pass their
    # gradients in the order p3, p2, p1. In floating point the order shows:
    # (-1e16 + 1e16) + 1 is 1.0, (1 + 1e16) - 1e16 would be 0.0.
    x = engine(2.0)
    p1, p2, p3 = x * 1.0, x * 1e16, x * -1e16
    ((p1 + p2) + p3).backward()
    assert repr(x.grad) == "1.0"


def test_the_sweep_follows_the_search_not_creation_order(engine):
    # x's parents are made p3, p2, p1 but used as (p1 + p2) + p3: the search
    # reaches p1 first, so the sweep passes p3's, p2's, then p1's gradient
    # (-1e16 + 1e16 + 1 = 1.0). A sweep over the nodes in reverse creation
    # order would pass p1's first (1 + 1e16 - 1e16 = 0.0).
    x = engine(2.0)
    p3, p2, p1 = x * -1e16, x * 1e16, x * 1.0
    ((p1 + p2) + p3).backward()
    assert repr(x.grad) == "1.0"


# -- the sort and sweep against an independent implementation ------------------


class Node:
    """The test's own micrograd: a value, children, and local derivatives."""

    def __init__(self, data, kids=(), local=()):
        self.data, self.kids, self.local, self.grad = data, kids, local, 0.0


def micrograd_backward(root):
    order, seen = [], set()

    def visit(v):                 # micrograd's build_topo, without recursion limits
        stack = [(v, False)]
        while stack:
            n, done = stack.pop()
            if done:
                order.append(n)
            elif id(n) not in seen:
                seen.add(id(n))
                stack.append((n, True))
                stack.extend((k, False) for k in reversed(n.kids))
    visit(root)
    root.grad = 1.0
    for n in reversed(order):
        for k, d in zip(n.kids, n.local):
            k.grad += d * n.grad


def build_twins(V, rng, width, units):
    """The same random DAG as engine Values and as Nodes: products, sums
    of two, and every so often one wide sum of op nodes (more children than
    the core handles between two looks at its cancel hook)."""
    xs = [rng.uniform(0.5, 1.5) for _ in range(width)]
    vs, ns = [V(x) for x in xs], [Node(x) for x in xs]
    for k in range(units):
        i, j = rng.randrange(len(vs)), rng.randrange(len(vs))
        if k % 5000 == 4999:
            picks = [rng.randrange(len(vs)) for _ in range(40_000)]
            vs.append(V.sum([vs[p] for p in picks]))
            data = ns[picks[0]].data
            for p in picks[1:]:
                data = data + ns[p].data
            ns.append(Node(data, [ns[p] for p in picks], [1.0] * len(picks)))
        elif rng.random() < 0.5:
            vs.append(vs[i] * vs[j])
            ns.append(Node(ns[i].data * ns[j].data, [ns[i], ns[j]], [ns[j].data, ns[i].data]))
        else:
            vs.append((vs[i] + vs[j]) * 0.5)
            half = Node(ns[i].data + ns[j].data, [ns[i], ns[j]], [1.0, 1.0])
            ns.append(Node(half.data * 0.5, [half, Node(0.5)], [0.5, half.data]))
    return vs, ns


def test_sort_and_sweep_match_micrograd_on_graphs_with_reused_ids(engine):
    # Graphs built after others died reuse their ids in a scrambled order,
    # interleaved with a graph that stays alive, and are backwarded more
    # than once (grads accumulate): every leaf's and node's grad equals
    # the test's own micrograd, bit for bit.
    import random
    rng = random.Random(7)
    keep = []
    for _round in range(3):
        vs, ns = build_twins(engine, rng, 64, 12_000)
        pairs = list(zip(vs, ns))
        rng.shuffle(pairs)         # the next round reuses ids as these die
        keep.append(pairs[: len(pairs) // 3])     # a third outlive the round
        wide = [(v, n) for v, n in pairs if len(n.kids) > 2]
        assert wide
        for v, n in pairs[:40] + wide:
            v.backward()
            micrograd_backward(n)
        assert [repr(v.grad) for v, _ in pairs] == [repr(n.grad) for _, n in pairs]
        del vs, ns, pairs
    for pairs in keep:             # the survivors, after the others' ids were reused
        for v, n in pairs[:10]:
            v.backward()
            micrograd_backward(n)
        assert [repr(v.grad) for v, _ in pairs] == [repr(n.grad) for _, n in pairs]
