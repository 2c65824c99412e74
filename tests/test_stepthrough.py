"""pygrad.viz.step_through: its replay of backward is the engine's, bit for
bit, step by step; the page is self-contained and small. (A real browser
clicks through it in test_stepthrough_browser.py.)
"""
import json
import math
import random
import re

import pytest

import pygrad
from pygrad._stepthrough import final_grads, replay
from pygrad.nn import MLP


def graph_values(root):
    """Every Value below root, walked here (operands in order)."""
    seen, stack = [root], [root]
    while stack:
        for k in stack.pop()._children:
            if k not in seen:
                seen.append(k)
                stack.append(k)
    return seen


def expressions(V):
    """Graphs with shared nodes, every op, a constant exponent and n-ary nodes."""
    a, b, c = V(0.7, label="a"), V(-1.3, label="b"), V(2.1, label="c")
    yield (a * b + c) * (a * b + c).tanh()
    x = a * a + a ** 3 - b / c
    yield x.exp() + (x * x).log() + x.sigmoid() + abs(b) + (-c).relu() + c ** b + 2 ** a
    yield V.sum([a, b, a * c, c]) * V.dot([a, b], [c, c], a)
    yield pygrad.select(V(1.0), [a, b * b, c]) + pygrad.max_data([a, b, c]) * a
    yield a * 0.0 + V(0.0).relu() * b          # zeros and relu's 0 at 0
    random.seed(3)
    model = MLP(3, [4, 4, 1])
    yield model([a, b, c])
    yield a                                    # a leaf: only the seed step


def fresh(root):
    for v in graph_values(root):
        v.grad = 0.0


def test_final_grads_equal_the_engines_backward_bitwise(engine):
    for root in expressions(engine):
        fresh(root)
        steps = replay(root)
        expected = final_grads(steps)
        root.backward()
        for v in graph_values(root):
            assert repr(expected.get(v, 0.0)) == repr(v.grad), (root._op, v._op, v.label)


def test_steps_follow_the_engines_order_and_rules(engine):
    # An independent replay here: micrograd's recursive build_topo, then each
    # node's rule written out for the ops of this graph.
    a, b = engine(0.5, label="a"), engine(-2.0, label="b")
    d = a * b
    root = (d + a).tanh() * d
    topo, visited = [], set()

    def build(v):
        if v not in visited:
            visited.add(v)
            for k in v._children:
                build(k)
            topo.append(v)
    build(root)
    order = [v for v in reversed(topo) if v._children]
    steps = replay(root)
    assert [s["node"] for s in steps] == [root] + order
    grads = {root: 1.0}
    for step, v in zip(steps[1:], order):
        g = grads.get(v, 0.0)
        ks = v._children
        if v._op == "*":
            local = [ks[1].data, ks[0].data]
        elif v._op == "+":
            local = [1.0, 1.0]
        else:
            local = [1.0 - v.data * v.data]
        want = []
        for k, d_ in zip(ks, local):
            before = grads.get(k, 0.0)
            grads[k] = before + d_ * g
            want.append((k, d_, before, grads[k]))
        assert [tuple(map(repr, u[1:])) for u in step["updates"]] == [tuple(map(repr, w[1:])) for w in want]
        assert [u[0] for u in step["updates"]] == [w[0] for w in want]


def test_replay_leaves_the_graph_untouched(engine):
    root = next(expressions(engine))
    root.backward()
    before = [repr(v.grad) for v in graph_values(root)]
    pygrad.viz.step_through(root)
    assert [repr(v.grad) for v in graph_values(root)] == before


def page_data(html):
    return json.loads(re.search(r"var D=(\{.*?\}), k=0", html, re.S).group(1))


def test_page_carries_the_exact_numbers_and_is_self_contained(engine, tmp_path):
    root = next(expressions(engine))
    view = pygrad.viz.step_through(root)
    data = page_data(view.html)
    last = {}
    for step in data["steps"][1:]:
        for u in step["updates"]:
            last[data["names"][u["child"]]] = u["after"]
    fresh(root)
    root.backward()
    by_name = {v.label: v for v in graph_values(root) if v.label}
    assert {name: last[name] for name in by_name} == {n: repr(v.grad) for n, v in by_name.items()}
    own = view.html.replace('xmlns="http://www.w3.org/2000/svg"', "")     # a name, not an address
    assert not re.search(r"(src|href)\s*=|https?:|@import|url\((?!#)", own)   # nothing fetched
    path = tmp_path / "steps.html"
    assert pygrad.viz.step_through(root, path) == str(path)
    assert path.read_text(encoding="utf-8") == view.html
    assert "srcdoc=" in view._repr_html_()


def test_a_50_node_page_is_under_200_kb(engine):
    xs = [engine(0.1 * i, label=f"x{i}") for i in range(10)]
    v = xs[0]
    for x in xs[1:]:
        v = (v * x + x).tanh()
    for _ in range(5):
        v = v * v + 1
    count = len(graph_values(v))
    assert count >= 50
    html = pygrad.viz.step_through(v).html
    assert len(html.encode()) < 200_000
    assert len(page_data(html)["steps"]) == 1 + sum(1 for k in graph_values(v) if k._children)


def test_labels_cannot_break_out_of_the_page(engine):
    a = engine(1.0, label="</script><script>alert(1)</script>")
    html = pygrad.viz.step_through(a * a).html
    assert html.count("</script>") == 1     # only the page's own
    assert page_data(html)["names"][1] == "</script><script>alert(1)</script>"


def test_nan_and_infinities_shown_exactly(engine):
    a = engine(math.inf, label="a")
    root = a * a * 0.0             # a's grad: inf * 0 + inf * 0, a NaN
    data = page_data(pygrad.viz.step_through(root).html)
    shown = {u["after"] for s in data["steps"] for u in s["updates"]}
    fresh(root)
    root.backward()
    assert repr(a.grad) in shown and math.isnan(a.grad)


def test_not_a_value_is_a_type_error():
    with pytest.raises(TypeError, match="not float"):
        pygrad.viz.step_through(1.0)
