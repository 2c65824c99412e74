"""The C contract (csrc/pygrad.h) driven directly through ffi: what the
core itself guarantees, below the Python wrappers."""
import threading

import pytest

from pygrad._ffi import lib
from pygrad._ops import CODES

NEG = CODES["neg"]

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
