"""pygrad.show: the graph as SVG from pure Python, on both engines.

The drawing is read back with an XML parser and compared with the graph
walked independently here; the layout is checked against a brute-force
longest path and a crossing count written in this file; big graphs must
collapse; pygrad must show graphs with no optional package and no `dot`.
"""
import itertools
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import pygrad
from pygrad import _layout
from pygrad.nn import MLP

SVG = "{http://www.w3.org/2000/svg}"


def boxes(svg):
    """[(texts, title)] per drawn box: the op (if any), then the fields."""
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(SVG + "g"):
        title = g.find(SVG + "title")
        out.append(([t.text for t in g.iter(SVG + "text")], None if title is None else title.text))
    return out


def edges(svg):
    return ET.fromstring(svg).findall(f".//{SVG}path[@marker-end]")


def lecture(V):
    """The lecture's first expression, labelled."""
    a, b, c, f = V(2.0, label="a"), V(-3.0, label="b"), V(10.0, label="c"), V(-2.0, label="f")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    L = d * f
    L.label = "L"
    return L, [a, b, c, d, e, f, L]


def fmt(x):
    return f"{x:.4f}"


def test_lecture_expression_every_node_drawn_with_label_op_data_grad(engine):
    L, values = lecture(engine)
    L.backward()
    drawn = boxes(pygrad.show(L).svg)
    expected = sorted(([v._op] if v._op else []) + [v.label, f"data {fmt(v.data)}", f"grad {fmt(v.grad)}"]
                      for v in values)
    assert sorted(texts for texts, _ in drawn) == expected
    # each box's tooltip has the exact numbers
    titles = {t.split("\n")[0]: t for _, t in drawn}
    assert titles["a"] == "a\nop: leaf\ndata: 2.0\ngrad: 6.0"     # dL/da = b * f
    assert len(edges(pygrad.show(L).svg)) == 6      # a, b -> e; e, c -> d; d, f -> L


def test_shared_operand_is_one_box_and_one_edge(engine):
    x = engine(3.0, label="x")
    y = x * x + x
    svg = pygrad.show(y).svg
    assert [texts[0] for texts, _ in boxes(svg)].count("x") == 1
    assert len(boxes(svg)) == 3 and len(edges(svg)) == 3    # x -> *, * -> +, x -> +


def test_markup_and_control_characters_in_labels_give_well_formed_svg(engine):
    v = engine(1.0, label='<b>&"x"\x00\x07\ud800')
    w = v.tanh()
    w.label = "]]></svg><script>"
    drawn = boxes(pygrad.show(w).svg)         # parses: well-formed
    texts = [t for ts, _ in drawn for t in ts]
    assert '<b>&"x"\\x00\\x07\\ud800' in texts and "]]></svg><script>" in texts


def test_repr_html_shows_label_op_data_grad(engine):
    x = engine(2.0, label="x<1>")
    y = x ** 2
    y.backward()
    html = x._repr_html_()
    assert "x&lt;1&gt;" in html and "<b>op</b> leaf" in html and "<b>data</b> 2.0" in html
    assert "<b>grad</b> 4.0" in html
    assert "<b>op</b> **2" in y._repr_html_() and "<b>label</b> -" in y._repr_html_()
    assert repr(y) == "Value(data=4.0, grad=1.0)"     # the text repr is micrograd's, unchanged


def test_graph_object_displays_and_saves(engine, tmp_path):
    L, _ = lecture(engine)
    g = pygrad.show(L)
    assert g._repr_svg_() == g.svg and g.svg in g._repr_html_()
    assert open(g.save(tmp_path / "g.svg"), encoding="utf-8").read() == g.svg
    page = open(g.save(tmp_path / "g.html"), encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>") and g.svg in page


def test_module_parameters_are_named(engine):
    random.seed(0)
    model = MLP(2, [3, 1])
    x = [engine(1.0), engine(-1.0)]
    out = model(x)
    names = [n for n, _ in model.named_parameters()]
    texts = {t for ts, _ in boxes(pygrad.show(out, module=model).svg) for t in ts}
    assert set(names) <= texts
    shown = {t for ts, _ in boxes(pygrad.show(model).svg) for t in ts}   # the forward over x0, x1
    assert set(names) | {"x0", "x1"} <= shown


def test_show_model_needs_inputs_when_it_cannot_tell(engine):
    class Scale(pygrad.nn.Module):
        def __init__(self):
            self.k = engine(3.0)

        def __call__(self, xs):
            return xs[0] * self.k
    with pytest.raises(TypeError, match="inputs=N"):
        pygrad.show(Scale())
    texts = [t for ts, _ in boxes(pygrad.show(Scale(), inputs=1).svg) for t in ts]
    assert "k" in texts and "x0" in texts and "data 0.0000" in texts


def test_bad_arguments_are_clear_errors(engine):
    with pytest.raises(TypeError, match="Value or a module"):
        pygrad.show(3.0)
    for bad in (0, -1, 2.5, "10"):
        with pytest.raises(ValueError, match="max_nodes"):
            pygrad.show(engine(1.0), max_nodes=bad)
    with pytest.raises(TypeError, match="named_parameters"):
        pygrad.show(engine(1.0), module=object())


# -- collapsing big graphs ----------------------------------------------------


def test_mlp_folds_its_weights_into_their_neurons(engine):
    random.seed(1)
    model = MLP(2, [16, 16, 1])
    g = pygrad.show(model)                       # 337 parameters: over the default 300
    drawn = boxes(g.svg)
    assert g.nodes < 100
    assert sum("+ 17 leaves" in ts for ts, _ in drawn) == 17     # 16 weights and a bias each
    assert any("layers.1.neurons.0.w.0" in (t or "") for _, t in drawn)
    assert len(boxes(pygrad.show(model, max_nodes=None).svg)) > 337   # unbounded: every Value


def test_big_graph_keeps_the_nodes_nearest_the_output(engine):
    v = engine(0.5, label="x")
    for _ in range(1000):
        v = (-v).tanh()              # 2001 Values; x folds into the first neg
    g = pygrad.show(v, max_nodes=300)
    drawn = boxes(g.svg)
    assert g.nodes == 301 and len(drawn) == 301
    assert [ts for ts, _ in drawn][-1] == ["... 1701 more nodes not drawn"]
    assert drawn[0][0] == ["tanh", f"data {fmt(v.data)}", "grad 0.0000"]     # the output is drawn
    assert len(edges(g.svg)) == 300


def test_million_node_chain_is_cut_by_the_walk(engine):
    v = engine(0.5)
    for _ in range(20_000):
        v = -v
    g = pygrad.show(v, max_nodes=50)
    assert g.nodes == 51 and "... at least 951 more nodes not drawn" in g.svg


# -- the layout, against independent implementations here ---------------------


def random_dag(rng, n):
    """inputs per node, every node reachable from 0 (edges go to higher numbers)."""
    inputs = [sorted(rng.sample(range(i + 1, n), min(n - i - 1, rng.randint(0, 3)))) for i in range(n)]
    for i in range(1, n):
        if not any(i in ks for ks in inputs[:i]):
            inputs[rng.randrange(i)].append(i)
    return inputs


def longest_path_brute(inputs):
    """Every path from 0, enumerated: the longest length that reaches each node."""
    best = {0: 0}
    stack = [(0, 0)]
    while stack:
        v, d = stack.pop()
        for k in inputs[v]:
            if best.get(k, -1) < d + 1:
                best[k] = d + 1
                stack.append((k, d + 1))
    return [best[v] for v in range(len(inputs))]


def crossings(inputs, rows, layer):
    """Crossing pairs among edges between adjacent layers."""
    pos = {v: i for row in rows for i, v in enumerate(row)}
    count = 0
    for L in range(len(rows) - 1):
        es = [(pos[v], pos[k]) for v in rows[L] for k in inputs[v] if layer[k] == L + 1]
        count += sum(1 for (a, b), (c, d) in itertools.combinations(es, 2) if (a - c) * (b - d) < 0)
    return count


def test_layers_are_longest_paths_and_edges_point_one_way():
    rng = random.Random(5)
    for n in range(1, 40):
        inputs = random_dag(rng, n)
        layer = _layout.layers_by_longest_path(inputs)
        assert layer == longest_path_brute(inputs)
        assert all(layer[k] > layer[v] for v, ks in enumerate(inputs) for k in ks)


def test_barycentric_order_removes_avoidable_crossings():
    # 0 <- 1, 2; 1 <- 4, 2 <- 3: numbered order crosses once, the layout's does not
    inputs = [[1, 2], [4], [3], [], []]
    layer = _layout.layers_by_longest_path(inputs)
    naive = [[v for v in range(5) if layer[v] == L] for L in range(3)]
    assert crossings(inputs, naive, layer) == 1
    assert crossings(inputs, _layout.order_layers(inputs, layer), layer) == 0


def test_trees_are_ordered_without_crossings():
    rng = random.Random(7)
    for _ in range(30):
        n = rng.randint(5, 60)
        inputs = [[] for _ in range(n)]
        for v in range(1, n):                       # a tree: one consumer each
            inputs[rng.randrange(v)].append(v)
        rng.shuffle(inputs[0])
        layer = _layout.layers_by_longest_path(inputs)
        rows = _layout.order_layers(inputs, layer)
        assert crossings(inputs, rows, layer) == 0   # trees can always be drawn without crossings
        assert sorted(v for row in rows for v in row) == list(range(n))


def test_boxes_do_not_overlap_and_inputs_sit_left_of_their_consumers():
    rng = random.Random(9)
    for _ in range(20):
        n = rng.randint(2, 80)
        inputs = random_dag(rng, n)
        sizes = [(rng.uniform(20, 200), 24.0) for _ in range(n)]
        corners, (w, h) = _layout.layout(inputs, sizes)
        rects = [(x, y, x + sw, y + sh) for (x, y), (sw, sh) in zip(corners, sizes)]
        for a, b in itertools.combinations(rects, 2):
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        for v, ks in enumerate(inputs):
            assert all(rects[k][2] < rects[v][0] for k in ks)
        assert all(-1e-9 <= r[0] and r[2] <= w + 1e-9 and -1e-9 <= r[1] and r[3] <= h + 1e-9 for r in rects)


# -- nothing optional needed --------------------------------------------------

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"IPython", "tqdm", "selenium", "nbclient", "nbformat", "ipykernel",
                                  "graphviz", "numpy", "matplotlib"}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import shutil, pygrad
assert shutil.which("dot") is None
for engine in ("c", "python"):
    pygrad.use_engine(engine)
    x = pygrad.Value(2.0, label="x")
    y = (x * x).tanh()
    y.backward()
    g = pygrad.show(y)
    assert "<svg" in g._repr_svg_() and "label</b> x" in x._repr_html_(), engine
    assert "<script>" in pygrad.viz.step_through(y).html
print("ok")
"""


def test_pygrad_shows_graphs_with_no_optional_package_and_no_dot(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))     # no `dot` (nor anything else) on PATH
    out = subprocess.run([sys.executable, "-c", BLOCKER], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ok\n"
