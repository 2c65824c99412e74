"""Ctrl-C during a long call: the call stops with the exception the signal
handler raised, and leaves the state the README states: an interrupted
backward() has set the root's grad to 1 and added part of its
contributions, or (stopped while sorting) changed no grad at all.

The interrupted graph's own grads are partial (as after any repeated
backward(), intermediate grads are not reset), so a new graph is built
to check that nothing else was damaged.

The signal comes from `signal.setitimer` (the kernel sends it 0.01 s into
a backward() that takes far longer; no thread needs the GIL). Without a
cancellation check in the core the call would finish first, and the
exception would come only after it: the test checks that the gradients
are not those of a finished call.
"""
import contextlib
import gc
import signal
import sys

import pytest

import pygrad

# cffi's PyPy modules have no C API for signals, so pygrad installs no
# cancellation hook there: a long C call finishes before Ctrl-C is seen (the
# README says so), and PyPy runs finalizers at its own times.
pytestmark = pytest.mark.skipif(sys.implementation.name == "pypy",
                                reason="no cancellation hook on PyPy: long C calls finish before a signal is handled")


class Alarm(Exception):
    pass


def layered(V, layers, width):
    """A function making a graph of `layers` dense layers (width x width,
    shared weights) over `width` inputs: cheap to build, slow to
    differentiate (width**2 * layers edges). Returns (root, inputs)."""
    dense = V.dense([[V(0.9 / width) for _ in range(width)] for _ in range(width)], [V(0.01)] * width)

    def build():
        xs = [V(0.001 * i) for i in range(width)]
        h = xs
        for _ in range(layers):
            h = dense(h)
        return V.sum(h), xs
    return build


@contextlib.contextmanager
def signal_within(seconds, exc):
    """`with signal_within(seconds, exc): ...` raises `exc` (a class) inside
    the block once `seconds` have passed, and never after it: the timer is
    armed on entry and disarmed on exit, and a signal handled late finds the
    handler disarmed. Put it inside `with pytest.raises(...)` (or a try): an
    exception that escaped the test would end the whole pytest run.
    The garbage collector is off meanwhile: a handler that runs inside a gc
    callback (hypothesis installs one) has its exception swallowed by Python."""
    armed = [True]

    def handler(signum, frame):
        if armed[0]:
            armed[0] = False
            raise exc("alarm")
    before = signal.signal(signal.SIGALRM, handler)
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        try:
            armed[0] = False      # (a signal here still raises inside the caller's pytest.raises)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, before)
            if gc_was_on:
                gc.enable()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, Alarm])
def test_a_signal_stops_a_long_backward(engine, exc):
    build = layered(engine, *((200, 200) if pygrad.get_engine() == "c" else (3, 300)))
    root, xs = build()
    root.backward()
    expected = [repr(x.grad) for x in xs]

    root, xs = build()
    with pytest.raises(exc), signal_within(0.01, exc):
        root.backward()
    # It stopped inside the call: the first layer's inputs, reached last,
    # did not all get their gradients (the sweep checks the hook more often
    # than once per layer).
    assert [repr(x.grad) for x in xs] != expected
    # The root's grad is 1 unless the sort was interrupted, when no grad changed.
    assert root.grad in (0.0, 1.0)
    if root.grad == 0.0:
        assert all(x.grad == 0.0 for x in xs)

    # Nothing else is damaged: a new graph (a new step) gives the same numbers.
    root, xs = build()
    root.backward()
    assert [repr(x.grad) for x in xs] == expected


def test_a_signal_stops_a_long_compiled_run_and_adds_no_gradient(engine):
    np = pytest.importorskip("numpy")
    x, w, b = engine(0.0), engine(0.5), engine(0.25)
    program = pygrad.compile((x * w + b).tanh(), [x], [w, b])
    rows = 2_000_000 if pygrad.get_engine() == "c" else 50_000
    batch = np.linspace(-1.0, 1.0, rows).reshape(-1, 1)
    with pytest.raises(KeyboardInterrupt), signal_within(0.01, KeyboardInterrupt):
        program.accumulate(batch)
    # Had the run finished before the exception, the grads would be set.
    assert (w.grad, b.grad) == (0.0, 0.0)


def stress(engine, live_nodes):
    """Signals every 50 us while ops, leaves, sums and dense layers are made,
    until 300 have struck: they land at every point of the wrappers,
    including just after a call into the core returned. Returns (nodes left
    behind, unraisable exceptions other than ones in a finalizer, whether an
    interrupt struck a finalizer's first line: a __del__, or the callback
    that releases a registered Value's node)."""
    unraisable = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    before = live_nodes() if pygrad.get_engine() == "c" else 0
    keep = [engine(0.5), engine(-1.5)]
    dense = engine.dense([[engine(0.1), engine(0.2)], [engine(0.3), engine(-0.4)]], [engine(0.0), engine(0.1)])
    armed, interrupts = [False], 0
    a = b = c = d = None
    # What releases a dropped Value's node in Python: the Python handle's
    # __del__, and the callback of a registered Value's weak reference.
    finalizers = {getattr(getattr(engine, "__del__", None), "__code__", None)}
    if pygrad.get_engine() == "c":
        from pygrad.cengine import _release
        finalizers.add(_release.__code__)

    def handler(signum, frame):
        # Raises only inside the work below, so this test's own loop is never hit.
        if armed[0] and frame.f_code not in finalizers:
            armed[0] = False
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    gc.disable()
    try:
        signal.setitimer(signal.ITIMER_REAL, 50e-6, 50e-6)
        while interrupts < 300:
            try:
                armed[0] = True
                a, b = keep
                for _ in range(50):
                    c = (a * b + 1.5).tanh() - a / 3 + engine(2.0) ** b + abs(a) + (-b).exp()
                    d = engine.sum([a, b, c]) + engine.dot([a, b], [c, c], a)
                    d = dense([c, d], relu=True)
                armed[0] = False
            except KeyboardInterrupt:
                interrupts += 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        gc.enable()
        sys.unraisablehook = hook
    del a, b, c, d, dense, keep
    in_finalizer = [u for u in unraisable if u.exc_type is KeyboardInterrupt
                    and ("__del__" in repr(u.object) or "_release" in repr(u.object))]
    others = [u for u in unraisable if u not in in_finalizer]
    left = live_nodes() - before if pygrad.get_engine() == "c" else 0
    return left, others, bool(in_finalizer)


def test_interrupts_during_eager_arithmetic_leak_no_node(engine, live_nodes):
    """No interrupt leaves a node behind or a handle whose finalizer fails.
    One spot is excluded: an interrupt on the first line of a Value's
    finalizer, where CPython runs the handler but cannot raise (it prints
    "Exception ignored in ... __del__" and that handle's node stays; the
    README says so). The handler above declines to raise there, but CPython
    does not always show it that frame: a run where it happened anyway is
    repeated."""
    for _ in range(5):
        left, others, hit_finalizer = stress(engine, live_nodes)
        assert others == []
        if not hit_finalizer:
            break
    assert not hit_finalizer
    assert left == 0


def test_a_signal_handler_may_use_the_core_during_a_long_backward(engine):
    """A handler that runs (via the cancel hook) in the middle of a C
    backward may make and drop nodes, growing and shrinking the pool under
    the sort and sweep; starting another backward from it is refused
    (RuntimeError: the sort's scratch is in use). The interrupted backward
    then finishes with the uninterrupted numbers."""
    if pygrad.get_engine() != "c":
        pytest.skip("the reference engine keeps no scratch: a handler's backward simply runs")
    from pygrad.cengine import stats
    build = layered(engine, 200, 200)
    root, xs = build()
    root.backward()
    expected = [repr(x.grad) for x in xs]
    other = engine(3.0) * engine(4.0)
    seen = []

    def handler(signum, frame):
        if seen:
            return   # (done, or running: the timer's next signals land inside this handler)
        seen.append("running")
        try:
            other.backward()
            seen.clear()
            return   # not inside the backward (yet, or any more): a later signal will be
        except RuntimeError as exc:
            refused = "cannot start" in str(exc)
        capacity = stats()["capacity"]
        many = [other * 2.0 for _ in range(capacity)]   # two nodes each: the pool must grow
        seen[:] = [stats()["capacity"] > capacity, refused]
        del many                                                   # ... and may shrink

    # A signal every millisecond: the first that the core's cancel hook
    # finds pending inside the backward runs the handler there.
    for _ in range(5):
        root, xs = build()
        previous = signal.signal(signal.SIGALRM, handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
            root.backward()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if seen:
            break
    assert seen == [True, True]
    assert [repr(x.grad) for x in xs] == expected


def test_interrupted_compiles_leave_no_program_and_no_leaf_reference(engine, live_nodes):
    """Ctrl-C at any point of pygrad.compile (in the core's sort, in its
    build, or just after it returned) leaves nothing: no program, and no
    reference on the leaves it read, so once the graph is dropped the core
    holds as many nodes as before it was built. Signals land at delays
    spread over one compile's time; some compiles finish first."""
    import time
    c = pygrad.get_engine() == "c"
    before = live_nodes() if c else 0
    xs, ws = [engine(i * 1e-3) for i in range(300)], [engine(0.5) for _ in range(300)]
    acc = engine(0.0)
    for i in range(30_000 if c else 1_000):        # 60k nodes on the C engine
        acc = acc + xs[i % 300] * ws[i % 300]
    t = time.perf_counter()
    expected = repr(pygrad.compile(acc, xs, ws).run_row([0.25] * 300))
    took = time.perf_counter() - t
    interrupted = 0
    for k in range(60):
        try:
            with signal_within(took * (0.05 + 0.02 * k), KeyboardInterrupt):
                program = pygrad.compile(acc, xs, ws)
            del program
        except KeyboardInterrupt:
            interrupted += 1
    assert interrupted >= 10
    assert repr(pygrad.compile(acc, xs, ws).run_row([0.25] * 300)) == expected   # nothing was damaged
    del acc, xs, ws
    if c:
        assert live_nodes() == before
