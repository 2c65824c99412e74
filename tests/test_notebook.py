"""pygrad as a notebook uses it: a real Jupyter kernel (nbclient) runs the
lecture's first steps, on each engine, with no Graphviz `dot` on PATH:
build the labelled expression and display it, show its graph, step through
its backward, train a small MLP with a live loss display. The outputs are
read back: HTML and SVG present, the numbers the same as this process
computes.

Needs the notebook extra (nbclient, nbformat, ipykernel); skipped without it.
"""
import json
import os
import random
import sys

import pytest

import pygrad
from pygrad.nn import MLP

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

SETUP = """\
import json, shutil
import pygrad
assert shutil.which("dot") is None, "dot must not be on PATH here"
print(pygrad.get_engine())"""

LECTURE = """\
a = pygrad.Value(2.0, label="a"); b = pygrad.Value(-3.0, label="b"); c = pygrad.Value(10.0, label="c")
e = a * b; e.label = "e"
d = e + c; d.label = "d"
f = pygrad.Value(-2.0, label="f")
L = d * f; L.label = "L"
L"""

SHOW = "pygrad.show(L)"

STEP = """\
view = pygrad.viz.step_through(L)
L.backward()
print(json.dumps({v.label: repr(v.grad) for v in (a, b, c, d, e, f, L)}))
view"""

TRAIN = """\
import random
from pygrad.nn import MLP
random.seed(0)
model = MLP(2, [4, 1])
X = [(0.5, 1.0), (-1.0, 0.3), (0.2, -0.7), (1.5, 0.1)]
Y = [1.0, -1.0, -1.0, 1.0]
live = pygrad.viz.LiveLoss(interval=0.0, budget=None, boundary=(X, Y), boundary_interval=0.0)
losses = []
for k in range(20):
    loss = pygrad.sum([(1 + -y * model([pygrad.Value(p) for p in x])).relu() for x, y in zip(X, Y)])
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= 0.05 * p.grad
    losses.append(loss.data)
    live.update(k, loss.data, model)
live.close()
print(json.dumps({"losses": [repr(x) for x in losses], "updates": live.updates}))"""


def train_here():
    """The TRAIN cell's numbers, computed in this process."""
    V = pygrad.Value
    random.seed(0)
    model = MLP(2, [4, 1])
    X = [(0.5, 1.0), (-1.0, 0.3), (0.2, -0.7), (1.5, 0.1)]
    Y = [1.0, -1.0, -1.0, 1.0]
    losses = []
    for _ in range(20):
        loss = pygrad.sum([(1 + -y * model([V(p) for p in x])).relu() for x, y in zip(X, Y)])
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
        losses.append(repr(loss.data))
    return losses


def stdout(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def rich(cell, mime):
    return [o.data[mime] for o in cell.outputs if o.output_type in ("execute_result", "display_data")
            and mime in o.get("data", {})]


@pytest.mark.slow     # a kernel start and some 20 displays: ~2 s per engine
def test_lecture_notebook_runs_on_a_real_kernel(engine, tmp_path, monkeypatch):
    name = pygrad.get_engine()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (SETUP, LECTURE, SHOW, STEP, TRAIN)]
    monkeypatch.setenv("PYGRAD_ENGINE", name)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))   # the venv's bin: no Graphviz
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    setup, lecture, show, step, train = nb.cells
    assert stdout(setup) == f"{name}\n"
    # the Value displays as HTML: label, op, data, grad
    (value_html,) = rich(lecture, "text/html")
    assert "<b>label</b> L" in value_html and "<b>op</b> *" in value_html and "<b>data</b> -8.0" in value_html
    # the graph: SVG with every label and number
    (svg,) = rich(show, "image/svg+xml")
    for text in ("a", "b", "c", "d", "e", "f", "L", "data -8.0000", "data 4.0000", "grad 0.0000"):
        assert f">{text}</text>" in svg
    # the step-through view, and the engine's grads after backward
    (view,) = rich(step, "text/html")
    assert view.startswith("<iframe srcdoc=") and "pg-next" in view
    assert json.loads(stdout(step)) == {"a": "6.0", "b": "-4.0", "c": "-2.0", "d": "-2.0", "e": "-2.0",
                                        "f": "4.0", "L": "1.0"}
    # training: the same losses as here, and the live display updated in place (one output, last step shown)
    got = json.loads(stdout(train))
    assert got["losses"] == train_here()
    assert got["updates"] == 21                      # every step (no interval, no budget), and close()
    (live_html,) = rich(train, "text/html")
    assert f"step 19  loss {float(got['losses'][-1]):.6g}" in live_html
    assert "<polyline" in live_html and live_html.count('<rect x=') >= 24 * 24   # the curve and the boundary
