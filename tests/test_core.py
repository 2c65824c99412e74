"""The C contract (csrc/pygrad.h) driven directly through ffi: what the
core itself guarantees, below the Python wrappers."""
import gc
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from pygrad._ffi import ffi, lib
from pygrad._ops import CODES

NEG, MUL = CODES["neg"], CODES["mul"]

pytestmark = pytest.mark.skipif(lib is None, reason="C core not built")


def test_grad_mode_is_per_thread():
    """pg_set_grad_enabled(0) in one thread leaves every other thread
    building graphs; each thread starts with grad mode on."""
    off, checked, seen = threading.Event(), threading.Event(), {}

    def worker():
        seen["start"] = lib.pg_set_grad_enabled(0)   # previous setting: on
        off.set()
        checked.wait()
        x = lib.pg_leaf(2.0)
        y = lib.pg_unary(NEG, x)   # neg: a leaf while off
        seen["worker_op"] = lib.pg_op(y)
        lib.pg_decref(y)
        lib.pg_decref(x)

    t = threading.Thread(target=worker)
    t.start()
    off.wait()
    x = lib.pg_leaf(2.0)
    y = lib.pg_unary(NEG, x)
    main_op = lib.pg_op(y)
    checked.set()
    t.join()
    lib.pg_decref(y)
    lib.pg_decref(x)
    assert seen["start"] == 1
    assert main_op == NEG           # this thread still builds a graph
    assert seen["worker_op"] == 0  # the other made a leaf


# -- memory follows the graph ------------------------------------------------------

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def chain(n):
    """x * x * ... (n ops) built directly in the core; returns (root, x) ids."""
    x = acc = lib.pg_leaf(1.0000001)
    lib.pg_incref(x)
    for _ in range(n):
        nxt = lib.pg_binary(MUL, acc, x)
        assert nxt >= 0
        lib.pg_decref(acc)
        acc = nxt
    return acc, x


def resident_after_a_dropped_graph(n):
    root, x = chain(1000)          # warm up: a small graph and its backward
    lib.pg_backward(root)
    lib.pg_decref(root), lib.pg_decref(x)
    gc.collect()
    before = rss_mib()
    root, x = chain(n)
    assert lib.pg_backward(root) == 0
    stats = ffi.new("pg_stats_t *")
    lib.pg_stats(stats)
    lib.pg_decref(root), lib.pg_decref(x)
    return before, stats.pool_bytes, rss_mib()


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.parametrize("n", [pytest.param(1_000_000), pytest.param(10_000_000, marks=pytest.mark.slow)])
def test_resident_memory_returns_after_a_big_graph_is_dropped(n):
    """The pool and the sort's scratch give their memory back: resident
    memory ends within 10% of what it was before the graph was built."""
    before, pool_bytes, after = resident_after_a_dropped_graph(n)
    assert pool_bytes >= n * 32                      # the graph did take its 32 B per node
    assert after <= before * 1.10, (before, pool_bytes, after)


def test_the_core_recovers_from_running_out_of_memory():
    """A backward that runs out of memory (address space limited) raises
    MemoryError; once its graph is dropped, a 2-node backward works again:
    the sort's scratch follows the graph sorted, not the largest pool."""
    code = textwrap.dedent("""
        import resource
        import pygrad
        from pygrad._ffi import ffi, lib
        from pygrad._ops import CODES
        V = pygrad.value_class("c")
        x = acc = lib.pg_leaf(1.0000001)
        lib.pg_incref(x)
        for _ in range(1_000_000):
            nxt = lib.pg_binary(CODES["mul"], acc, x)
            lib.pg_decref(acc)
            acc = nxt
        root = V(0.0)
        lib.pg_decref(root._id)
        root._id = acc               # the chain's handle
        with open("/proc/self/statm") as f:
            vm = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (vm + 4 * 2**20, resource.RLIM_INFINITY))
        try:
            root.backward()
            print("no MemoryError")
        except MemoryError:
            pass
        del root
        a, b = V(2.0), V(3.0)
        c = a * b
        c.backward()
        print(a.grad, b.grad)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3.0", "2.0"]
