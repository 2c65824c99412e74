"""Memory: dropped graphs are freed (C: live node count back to baseline),
node storage is reused (capacity stays flat), RSS stays flat over many
rounds, failed ops leak nothing, and out-of-memory in C is a MemoryError."""
import gc
import json
import os
import subprocess
import sys

import pytest

import pygrad

C = pygrad.value_class("c")

ROUNDS, NODES = 15, 100_000


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_round(V, nodes=NODES):
    """Build about `nodes` nodes (a chain, a wide sum, a dot), differentiate, drop."""
    x = V(0.5)
    leaves = [V(float(i % 7)) for i in range(nodes // 10)]
    acc = V.sum(leaves) * 1e-6
    for _ in range((nodes - nodes // 5) // 4):      # 4 nodes a step: constant, *, +, tanh
        acc = (acc * 0.5 + x).tanh()
    out = V.dot(leaves[:100], leaves[100:200], acc)
    out.backward()
    return out.data, x.grad


@pytest.fixture
def stats():
    pytest.importorskip("pygrad._pygrad")
    from pygrad.cengine import stats
    return stats


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")


def test_dropped_graphs_free_every_node(stats, live_nodes):
    before, kid_bytes = live_nodes(), stats()["kid_bytes"]
    result = one_round(C, 10_000)
    assert live_nodes() == before
    assert stats()["kid_bytes"] == kid_bytes   # n-ary child arrays freed too
    assert result == one_round(C, 10_000)      # and a rebuilt graph gives the same numbers


def test_handles_from_prev_are_released(live_nodes):
    before = live_nodes()
    a, b = C(1.0), C(2.0)
    c = (a * b + 3).tanh()
    walked = [c]
    for _ in range(3):
        walked += [k for v in walked for k in v._prev]
    del a, b, c
    assert live_nodes() > before          # the walk's handles keep nodes alive ...
    del walked
    assert live_nodes() == before         # ... until they are dropped


def test_intermediates_live_as_long_as_their_parent(live_nodes):
    before = live_nodes()
    x = C(2.0)
    y = ((x * 3) + 1).exp().log()         # intermediates have no Python handle
    del x
    # x, the constants 3 and 1, *, +, exp, log: all kept alive by y alone
    assert live_nodes() == before + 7
    y.backward()
    assert y.data == pytest.approx(7.0, rel=1e-15)
    del y
    assert live_nodes() == before


@pytest.mark.slow
@pytest.mark.exact_node_counts
def test_node_storage_is_reused(stats, live_nodes):
    one_round(C)
    live_nodes()                          # collects: PyPy frees nodes only then
    first = stats()
    for _ in range(ROUNDS - 1):
        one_round(C)
        live_nodes()                      # each round's graph is gone before the next
    last = stats()
    assert last["capacity"] == first["capacity"]
    assert last["pool_bytes"] == first["pool_bytes"]
    assert last["kid_bytes"] == first["kid_bytes"]
    assert last["live"] == first["live"]


@pytest.mark.slow
@needs_proc
@pytest.mark.skipif(sys.implementation.name == "pypy",
                    reason="PyPy's RSS follows its GC's heap sizing, not leaks (the core's bytes: "
                           "test_node_storage_is_reused, test_unattended_memory.py)")
def test_rss_stays_flat(engine):
    for _ in range(2):                    # warm up: pools and caches reach their size
        one_round(engine)
    gc.collect()
    start = rss_bytes()
    for _ in range(ROUNDS):
        one_round(engine)
    gc.collect()
    assert rss_bytes() - start < 8 * 2 ** 20


def test_failed_ops_in_a_loop_leak_nothing(stats, live_nodes):
    x = C(-1.0)
    before, capacity = live_nodes(), stats()["capacity"]
    for _ in range(20_000):
        for fail in (lambda: x.log(), lambda: x / 0, lambda: x ** 0.5, lambda: (x * -1000).exp(),
                     lambda: C.dot([x], [], x), lambda: C.sum([x, "a"]), lambda: x + "a"):
            try:
                fail()
            except (ArithmeticError, ValueError, TypeError):
                pass
    assert live_nodes() == before
    if sys.implementation.name != "pypy":      # (on PyPy the dead temporaries wait for a collection)
        assert stats()["capacity"] <= capacity     # (the pool may shrink, never grow)


OOM_PROBE = """
import json, resource
from pygrad.cengine import Value, stats
with open("/proc/self/statm") as f:
    size = int(f.read().split()[0]) * resource.getpagesize()
limit = size + 128 * 2 ** 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
acc, error, live_at_error = Value(0.0), None, None
for _ in range(20_000_000):
    live = stats()["live"]
    try:
        acc = acc + 1.0
    except MemoryError as exc:
        error, live_at_error = str(exc), (live, stats()["live"])
        break
steps = acc.data
del acc
after = stats()["live"]
y = Value(2.0) * 3.0                      # the core works again
print(json.dumps({"error": error, "live": live_at_error, "steps": steps, "after": after, "y": y.data}))
"""


@pytest.mark.slow
@needs_proc
@pytest.mark.skipif(sys.implementation.name == "pypy",
                    reason="under a tight address-space limit PyPy's own allocator fails first (it aborts)")
def test_out_of_memory_in_the_core_is_a_memory_error(tmp_path):
    pytest.importorskip("pygrad._pygrad")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))   # the same pygrad as here
    done = subprocess.run([sys.executable, "-c", OOM_PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["error"] == "+: out of memory in the C core"
    live_before, live_after = result["live"]
    assert live_after == live_before      # the failed op created nothing
    assert result["steps"] > 0 and result["after"] == 0 and result["y"] == 6.0


REUSE_PROBE = """
import gc, json, random
from pygrad.cengine import Value
leaves = [Value(float(i)) for i in range(20_000)]       # a fresh pool: ids 0 .. 19,999
random.Random(0).shuffle(leaves)
while leaves:                                           # dropped in a random order
    leaves.pop()
gc.collect()                                            # (PyPy frees them only here:
gc.collect()                                            #  a leaf's table entry goes in the next one)
again = [Value(0.0) for _ in range(20_000)]
print(json.dumps([v._id for v in again]))
"""


def test_freed_nodes_are_reused_in_id_order_after_churn(tmp_path):
    """After half the pool has been freed, new nodes take the lowest free ids
    in order (so a new graph is compact), not the order the old ones died in."""
    pytest.importorskip("pygrad._pygrad")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))   # the same pygrad, a fresh pool
    done = subprocess.run([sys.executable, "-c", REUSE_PROBE], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert max(ids) < 20_000                               # all reused, the pool did not grow
