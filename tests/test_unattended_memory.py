"""A long run that never calls gc.collect() gives the C core's memory back
as it goes. On CPython reference counting frees each graph at once. On PyPy
a handle is finalized only by a major collection, which PyPy schedules by
the memory it manages itself, blind to the nodes a handle keeps alive in the
core: pygrad watches the core (pygrad/_pypy.py) and collects when it has
grown by GROWTH. Without that this run holds every graph it ever built
(measured: all 38 MB), with it about GROWTH.

PyPy's nursery is half the cache the CPU reports (PYPY_GC_NURSERY sets it):
4 MB on many machines, 240 MB on one reporting 480 MB, where no minor
collection came in the whole run and a watch run from the GC's hooks alone
never looked. So the run is made again in a child with a nursery that big."""
import gc
import os
import subprocess
import sys

import pytest

import pygrad._pypy

cengine = pytest.importorskip("pygrad.cengine")
C = cengine.Value
GRAPHS, LENGTH = 400, 1_000        # 400 chains of 3,000 nodes (~96 kB each), each dropped at once
GROWTH = 1 << 20                   # the watch's threshold, lowered for a short run
PYPY = sys.implementation.name == "pypy"


def held():
    s = cengine.stats()
    return s["live"] * s["node_bytes"] + s["kid_bytes"]


def most_held():
    """Build and drop GRAPHS graphs; (the most the core held at once, one graph's bytes)."""
    # The watch lets the core double from its size after the last major
    # collection; start from a collection of this run's own, not from
    # whatever graph an earlier test held at its last one (seen: 28 MB).
    gc.collect()
    x = C(0.5)
    before = held()
    worst = graph_bytes = 0
    for _ in range(GRAPHS):
        acc = x
        for _ in range(LENGTH):
            acc = acc * 0.5 + x
        acc.backward()
        assert x.grad == pytest.approx(2.0 * (1 - 0.5 ** LENGTH) + 0.5 ** LENGTH, rel=1e-12)
        graph_bytes = graph_bytes or held() - before
        del acc
        x.grad = 0.0
        worst = max(worst, held() - before)
    return worst, graph_bytes


def most_held_in_child(nursery):
    """most_held() in a new interpreter whose PyPy nursery is `nursery`."""
    code = ("import runpy, pygrad._pypy as p; t = runpy.run_path(%r); p.GROWTH = t['GROWTH']; "
            "print(*t['most_held']())" % os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYPY_GC_NURSERY=nursery),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    worst, graph_bytes = map(int, out.stdout.split())
    return worst, graph_bytes


@pytest.mark.slow
@pytest.mark.parametrize("nursery", [None, "480MB"], ids=["this-nursery", "big-nursery"])
def test_dropped_graphs_are_freed_without_gc_collect(monkeypatch, nursery):
    if nursery is None:
        monkeypatch.setattr(pygrad._pypy, "GROWTH", GROWTH)
        pygrad._pypy.left[0] = 0   # count anew from the first node, by this GROWTH
        worst, graph_bytes = most_held()
    elif PYPY:
        worst, graph_bytes = most_held_in_child(nursery)
    else:
        pytest.skip("PYPY_GC_NURSERY is PyPy's")
    assert graph_bytes >= 3 * LENGTH * cengine.stats()["node_bytes"]
    # GROWTH, a few graphs over as the watch looks in steps, and far below
    # all the graphs (38 MB); CPython holds one graph at a time.
    assert worst < 2 * GROWTH, f"the core held {worst} bytes at once on {sys.implementation.name}"
