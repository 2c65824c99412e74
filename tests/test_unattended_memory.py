"""A long run that never calls gc.collect() gives the C core's memory back
as it goes. On CPython reference counting frees each graph at once. On PyPy
a handle is finalized only by a major collection, which PyPy schedules by
the memory it manages itself, blind to the nodes a handle keeps alive in the
core: without pygrad's GC hook (pygrad/_pypy.py) this run holds every graph
it ever built (measured: all 38 MB), with it a few MB."""
import gc
import sys

import pytest

import pygrad._pypy

cengine = pytest.importorskip("pygrad.cengine")
C = cengine.Value
GRAPHS, LENGTH = 400, 1_000        # 400 chains of 3,000 nodes (~96 kB each), each dropped at once


def held():
    s = cengine.stats()
    return s["live"] * s["node_bytes"] + s["kid_bytes"]


@pytest.mark.slow
@pytest.mark.xfail(sys.implementation.name == "pypy", strict=False,
                   reason="known regression on PyPy: since nodes are released from finalizers through the "
                          "handle table, the GC hook measures the core before the release and lets it grow "
                          "to every graph of this run (38 MB) before a collection gives it back")
def test_dropped_graphs_are_freed_without_gc_collect(monkeypatch):
    monkeypatch.setattr(pygrad._pypy, "GROWTH", 1 << 20)   # the hook's threshold, lowered for a short run
    # The hook lets the core double from its size after the last major
    # collection; start from a collection of this test's own, not from
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
    assert graph_bytes >= 3 * LENGTH * cengine.stats()["node_bytes"]
    assert worst < GRAPHS * graph_bytes / 2, f"the core held {worst} bytes at once on {sys.implementation.name}"
