"""pygrad.viz: the DOT text of a graph (exact, on both engines), its
truncation on large and deep graphs, and draw() with and without graphviz.
"""
import re
import sys
import types

import pytest

import pygrad
from pygrad.viz import _quote, draw, to_dot

C, Ref = pygrad.value_class("c"), pygrad.value_class("python")

RECORD = re.compile(r'^  v(\d+) \[shape=record, label="\{ data (\S+) \| grad (\S+) \}"\];$', re.MULTILINE)
OP = re.compile(r'^  v(\d+)_op \[shape=circle, label="(.*)"\];$', re.MULTILINE)
EDGE = re.compile(r"^  v(\d+) -> v(\d+)_op;$", re.MULTILINE)


def parse(dot):
    """(records {n: (data, grad)}, ops {n: label}, edges [(child, parent)])."""
    records = {int(n): (d, g) for n, d, g in RECORD.findall(dot)}
    ops = {int(n): label for n, label in OP.findall(dot)}
    edges = [(int(a), int(b)) for a, b in EDGE.findall(dot)]
    return records, ops, edges


def test_a_leaf_is_one_record(engine):
    assert to_dot(engine(1.5)) == (
        "digraph pygrad {\n"
        "  rankdir=LR;\n"
        '  v0 [shape=record, label="{ data 1.5000 | grad 0.0000 }"];\n'
        "}\n")


EXPECTED = """\
digraph pygrad {
  rankdir=LR;
  v0 [shape=record, label="{ data -2.0000 | grad 1.0000 }"];
  v0_op [shape=circle, label="+"];
  v0_op -> v0;
  v1 [shape=record, label="{ data -6.0000 | grad 1.0000 }"];
  v1_op [shape=circle, label="*"];
  v1_op -> v1;
  v2 [shape=record, label="{ data 4.0000 | grad 1.0000 }"];
  v2_op [shape=circle, label="**2"];
  v2_op -> v2;
  v3 [shape=record, label="{ data 2.0000 | grad 1.0000 }"];
  v4 [shape=record, label="{ data -3.0000 | grad 2.0000 }"];
  v1 -> v0_op;
  v2 -> v0_op;
  v3 -> v1_op;
  v4 -> v1_op;
  v3 -> v2_op;
}
"""


def test_expression_exact_text(engine):
    # x is shared by * and **2 (drawn once, v3); the exponent 2 is no node;
    # dz/dx = y + 2x = 1, dz/dy = x = 2.
    x, y = engine(2.0), engine(-3.0)
    z = x * y + x ** 2
    z.backward()
    assert to_dot(z) == EXPECTED


def test_shared_node_drawn_once_with_an_edge_per_operand(engine):
    x = engine(3.0)
    a = x + x
    b = a * a
    records, ops, edges = parse(to_dot(b))
    assert records == {0: ("36.0000", "0.0000"), 1: ("6.0000", "0.0000"), 2: ("3.0000", "0.0000")}
    assert ops == {0: "*", 1: "+"}
    assert edges == [(1, 0), (1, 0), (2, 1), (2, 1)]


def test_every_op_label_is_micrograd_op_string(engine):
    x, y = engine(0.5), engine(2.0)
    cases = [x + y, x - y, x * y, x / y, x ** y, x ** 2, x ** 0.5, x ** -1, 2 ** x, -x,
             x.relu(), x.tanh(), x.exp(), x.log(), x.sigmoid(),
             engine.sum([x, y]), engine.dot([x], [y], engine(1.0))]
    labels = [parse(to_dot(v))[1][0] for v in cases]
    assert labels == ["+", "-", "*", "/", "**", "**2", "**0.5", "**-1", "**", "neg",
                      "ReLU", "tanh", "exp", "log", "sigmoid", "sum", "dot"]
    assert labels == [v._op for v in cases]


def test_children_in_operand_order_constants_included(engine):
    # A constant operand other than x**k's exponent is a node, as in micrograd's _prev.
    x = engine(5.0)
    records, _, edges = parse(to_dot(3 - x))
    assert records[1][0] == "3.0000" and records[2][0] == "5.0000"
    assert edges == [(1, 0), (2, 0)]
    records, _, edges = parse(to_dot(x - 3))
    assert records[1][0] == "5.0000" and records[2][0] == "3.0000"
    w0, w1, x0, x1, b = (engine(v) for v in (1.0, 2.0, 3.0, 4.0, 5.0))
    records, _, edges = parse(to_dot(engine.dot([w0, w1], [x0, x1], b)))
    assert [records[n][0] for n, _ in edges] == ["1.0000", "2.0000", "3.0000", "4.0000", "5.0000"]


def test_x_squared_draws_two_nodes_not_three(engine):
    x = engine(3.0)
    records, ops, edges = parse(to_dot(x ** 2))
    assert len(records) == 2 and ops == {0: "**2"} and edges == [(1, 0)]
    assert len(parse(to_dot(x ** engine(2.0)))[0]) == 3     # a Value exponent is a node


def wide_graph(V):
    """Two layers of shared sums: 8 leaves, 4 pairs, 1 root (13 nodes)."""
    leaves = [V(float(i)) for i in range(8)]
    pairs = [leaves[i] * leaves[(i + 1) % 8] for i in range(0, 8, 2)]
    return V.sum([*pairs, leaves[0]]), leaves, pairs


def test_truncation_draws_the_nodes_nearest_the_root(engine):
    root, _, _ = wide_graph(engine)
    dot = to_dot(root, max_nodes=5)
    records, _, edges = parse(dot)
    # breadth-first: the root, its four pairs; leaves 0..7 (8 nodes) are cut
    assert sorted(records) == [0, 1, 2, 3, 4]
    assert [records[i][0] for i in range(5)] == ["68.0000", "0.0000", "6.0000", "20.0000", "42.0000"]
    assert edges == [(1, 0), (2, 0), (3, 0), (4, 0)]
    assert '  more [shape=note, style=dashed, label="... more nodes not drawn"];' in dot
    assert re.findall(r"^  more -> v(\d+)_op \[style=dashed\];$", dot, re.MULTILINE) == ["0", "1", "2", "3", "4"]
    full = parse(to_dot(root, max_nodes=None))
    assert len(full[0]) == 13 and "more" not in to_dot(root, max_nodes=13)
    assert "... more nodes not drawn" in to_dot(root, max_nodes=12)


@pytest.mark.slow
def test_deep_chain_is_walked_without_recursion(engine):
    # 100k levels would overflow any recursive walk (and Python's stack).
    depth = 100_000
    v = engine(0.5)
    for _ in range(depth):
        v = -v
    dot = to_dot(v, max_nodes=300)
    records, ops, edges = parse(dot)
    assert sorted(records) == list(range(300))
    assert edges == [(i + 1, i) for i in range(299)]
    assert set(ops.values()) == {"neg"}
    assert "... more nodes not drawn" in dot
    assert re.findall(r"^  more -> v(\d+)_op", dot, re.MULTILINE) == ["299"]
    assert len(RECORD.findall(to_dot(v, max_nodes=None))) == depth + 1


def test_truncated_walk_stops_at_the_bound(engine, monkeypatch):
    # A 1e5-node chain drawn with max_nodes=5 must look at about 5 nodes,
    # not walk all of them to count what it leaves out.
    v = engine(0.5)
    for _ in range(100_000):
        v = v * 1.0001
    seen = []
    operands = pygrad.viz._operands
    monkeypatch.setattr(pygrad.viz, "_operands", lambda x: seen.append(x) or operands(x))
    dot = to_dot(v, max_nodes=5)
    assert len(seen) == 5 and len(RECORD.findall(dot)) == 5
    assert "... more nodes not drawn" in dot


def test_c_and_python_engines_draw_identical_text():
    def build(V):
        x, y = V(0.7), V(-1.3)
        h = (x * y).tanh() + (x ** 2).sigmoid() - y.exp() / (x + 2)
        out = V.dot([h, x], [y, h], V(0.25)).relu() + V.sum([h, h, x ** y.relu()]) + (2 ** h).log()
        out.backward()
        return out
    c_root, ref_root = build(C), build(Ref)
    for limit in (None, 500, 7, 1):
        assert to_dot(c_root, max_nodes=limit) == to_dot(ref_root, max_nodes=limit)
    assert len(parse(to_dot(c_root))[0]) > 10


@pytest.mark.exact_node_counts
def test_to_dot_keeps_no_c_nodes_alive(live_nodes):
    before = live_nodes()
    root = wide_graph(C)[0]
    assert live_nodes() == before + 13
    to_dot(root, max_nodes=3)
    assert live_nodes() == before + 13
    del root
    assert live_nodes() == before


def test_rankdir_and_argument_checks(engine):
    v = engine(1.0) + 1
    assert "  rankdir=TB;\n" in to_dot(v, rankdir="TB")
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ValueError, match="max_nodes"):
            to_dot(v, max_nodes=bad)
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(v, rankdir="XY")
    with pytest.raises(TypeError, match="Value"):
        to_dot(1.0)


def test_numbers_are_formatted_without_hundreds_of_digits(engine):
    big = engine(1e300)
    assert parse(to_dot(big))[0] == {0: ("1.0000e+300", "0.0000")}
    nan = engine(float("nan")) * 1
    assert parse(to_dot(nan))[0][0] == ("nan", "0.0000")
    assert parse(to_dot(engine(-0.0)))[0][0] == ("-0.0000", "0.0000")


def test_labels_are_quoted_safely():
    assert _quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert _quote("**2") == '"**2"'


# -- draw ------------------------------------------------------------------


def test_draw_without_graphviz_says_how_to_get_it(engine, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)     # import graphviz -> ImportError
    with pytest.raises(ImportError, match=r"pip install graphviz") as info:
        draw(engine(1.0) * 2)
    assert "`dot`" in str(info.value) and "to_dot" in str(info.value)


class FakeSource:
    """Stands in for graphviz.Source: records what draw() asked for."""

    def __init__(self, source, format=None):
        self.source, self.format, self.rendered = source, format, None

    def render(self, filename, format=None, cleanup=False):
        self.rendered = (filename, format, cleanup)
        return f"{filename}.{format}"


@pytest.fixture
def fake_graphviz(monkeypatch):
    made = []

    def source(*args, **kwargs):
        made.append(FakeSource(*args, **kwargs))
        return made[-1]
    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Source=source))
    return made


def test_draw_hands_the_dot_text_to_graphviz(engine, fake_graphviz):
    x = engine(2.0)
    y = (x * x).tanh()
    src = draw(y, max_nodes=2, rankdir="TB")
    assert src is fake_graphviz[-1]
    assert src.source == to_dot(y, max_nodes=2, rankdir="TB") and src.format == "svg"
    assert src.rendered is None
    path = draw(y, "out/graph", format="png")
    assert path == "out/graph.png"
    assert fake_graphviz[-1].rendered == ("out/graph", "png", True)
    assert fake_graphviz[-1].source == to_dot(y)


def test_draw_returns_a_real_graphviz_source(engine):
    graphviz = pytest.importorskip("graphviz")
    y = engine(2.0) * 3
    src = draw(y, format="png")
    assert isinstance(src, graphviz.Source)
    assert src.source == to_dot(y) and src.format == "png"
