"""Threads: several threads building and differentiating independent graphs
get exactly the single-threaded numbers; threads sharing one graph cannot
corrupt it, because sweeps are serialized (the C core is only entered with
the GIL held, and the reference engine takes a lock around each sweep).
All on both engines."""
import platform
import random
import sys
import threading
import time

import pytest

import pygrad
from pygrad import nn

C = pygrad.value_class("c")

THREADS = 4


@pytest.fixture(autouse=True)
def frequent_switches():
    # Switch threads every microsecond so they interleave as much as possible.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_in_threads(target, args_list):
    """Run target(*args) in one thread per args, all released at once."""
    barrier = threading.Barrier(len(args_list))
    results, errors = [None] * len(args_list), []

    def worker(i, args):
        barrier.wait()
        try:
            results[i] = target(*args)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def independent_graph(V, seed, steps=1500):
    """A graph of shared leaves and every kind of op; its values and grads."""
    rng = random.Random(seed)
    xs = [V(rng.uniform(-1, 1)) for _ in range(8)]
    acc = V(0.0)
    for _ in range(steps):
        a, b = rng.choice(xs), rng.choice(xs)
        acc = (acc * 0.9 + a * b).tanh() + a.sigmoid() / 100 - (b ** 2).exp() * 1e-3
        if rng.random() < 0.05:
            acc = acc + V.dot(xs[:4], xs[4:], b).relu()
    acc.backward()
    return [repr(acc.data)] + [repr(x.grad) for x in xs]


@pytest.mark.slow
def test_independent_graphs_in_threads_are_exact(engine):
    seeds = list(range(THREADS * 2))
    expected = [independent_graph(engine, s) for s in seeds]
    got = run_in_threads(independent_graph, [(engine, s) for s in seeds])
    assert got == expected


@pytest.mark.exact_node_counts
def test_threads_dropping_graphs_leave_no_c_node(live_nodes):
    before = live_nodes()
    run_in_threads(independent_graph, [(C, s) for s in range(THREADS)])
    assert live_nodes() == before


def test_threads_sharing_one_graph_accumulate_exactly(engine):
    # Small integers: every partial sum is exact, whatever the order.
    ws = [engine(float(i)) for i in range(1, 6)]
    xs = [engine(float(10 - i)) for i in range(5)]
    root = engine.dot(ws, xs, engine(1.0))
    calls = 300

    def hammer():
        for _ in range(calls):
            root.backward()

    run_in_threads(hammer, [()] * THREADS)
    n = THREADS * calls
    assert [w.grad for w in ws] == [n * x.data for x in xs]
    assert [x.grad for x in xs] == [n * w.data for w in ws]
    assert root.grad == 1.0


def test_threads_building_on_shared_leaves(engine):
    a, b = engine(3.0), engine(-2.0)
    rounds = 500

    def build():
        for _ in range(rounds):
            (a * b + a).backward()     # adds b + 1 to a.grad and a to b.grad

    run_in_threads(build, [()] * THREADS)
    n = THREADS * rounds
    assert (a.grad, b.grad) == (n * (-2.0 + 1.0), n * 3.0)


def test_shared_graph_with_intermediates_equals_serial_sweeps(engine):
    # Each sweep is atomic, so N sweeps from any threads in any order leave
    # the graph exactly as N sweeps one after another do.
    def graph():
        a, b = engine(0.5), engine(-1.5)
        c = a * b
        d = c.tanh() + a
        return [a, b, c, d, d * d]

    calls = 100
    shared = graph()
    run_in_threads(lambda: [shared[-1].backward() for _ in range(calls)], [()] * THREADS)
    serial = graph()
    for _ in range(THREADS * calls):
        serial[-1].backward()
    assert [repr(v.grad) for v in shared] == [repr(v.grad) for v in serial]


def _forward_backward(model, V, rows):
    """The outputs for `rows`, and each input's grad (the inputs are this
    thread's own, so their grads do not depend on other threads)."""
    out = []
    for row in rows:
        x = [V(v) for v in row]
        y = model(x)
        y.backward()
        out.append([repr(y.data)] + [repr(v.grad) for v in x])
    return out


@pytest.mark.exact_node_counts
def test_threads_sharing_one_mlp_get_the_single_thread_numbers(engine, live_nodes):
    # Nothing a model keeps may be per-call scratch: eight threads calling one
    # MLP (its Layers' fused calls included) get exactly the serial results.
    random.seed(5)
    model = nn.MLP(3, [8, 8, 1])
    V = engine
    rng = random.Random(1)
    rows = [[[rng.uniform(-2, 2) for _ in range(3)] for _ in range(40)] for _ in range(8)]
    expected = [_forward_backward(model, V, r) for r in rows]
    before = live_nodes() if engine is C else None
    got = run_in_threads(_forward_backward, [(model, V, r) for r in rows])
    assert got == expected
    if before is not None:
        assert live_nodes() == before                  # no node leaked


def test_no_grad_in_two_threads_at_once_leaves_grad_on(engine):
    # Enter A, enter B, leave A, leave B: with one process-wide flag, B
    # restores the "off" it saw on entry, and graphs stay off for good.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    inside = {}

    def a():
        with pygrad.no_grad():
            a_in.set()
            b_in.wait()
            inside["a"] = pygrad.is_grad_enabled(), (pygrad.Value(2.0) * 3)._op
        a_out.set()

    def b():
        a_in.wait()
        with pygrad.no_grad():
            b_in.set()
            a_out.wait()
            inside["b"] = pygrad.is_grad_enabled(), (pygrad.Value(2.0) * 3)._op

    run_in_threads(lambda f: f(), [(a,), (b,)])
    assert inside == {"a": (False, ""), "b": (False, "")}
    assert pygrad.is_grad_enabled()
    x = pygrad.Value(2.0)
    (x * x).backward()
    assert x.grad == 4.0
    assert run_in_threads(lambda: (pygrad.Value(2.0) * 3)._op, [()]) == ["*"]   # a new thread too


def test_gradcheck_in_one_thread_leaves_another_threads_gradients_alone(engine):
    # gradcheck turns graph building off for its nudged evaluations; another
    # thread differentiating at that moment must still get its gradients.
    nudging, done = threading.Event(), threading.Event()

    def f(x):
        if not pygrad.is_grad_enabled() and not nudging.is_set():
            nudging.set()                      # stay in the nudged phase
            done.wait(10)
        return x * x

    def check():
        return bool(pygrad.gradcheck(f, [1.5]))

    def differentiate():
        nudging.wait(10)
        try:
            a, b = pygrad.Value(3.0), pygrad.Value(4.0)
            (a * b + a).backward()
            return a.grad, b.grad
        finally:
            done.set()

    results = run_in_threads(lambda g: g(), [(check,), (differentiate,)])
    assert results == [True, (5.0, 3.0)]


def _other_thread_ran_during(call):
    """Whether a spinning second thread ran any bytecode while `call()` ran.

    With a long switch interval, the spinner gets the GIL only when this
    thread gives it away; a C call that released the GIL would give it away
    for as long as the call takes, and the spinner's counter would move."""
    count, stop, started = [0], [False], threading.Event()

    def spin():
        started.set()
        while not stop[0]:
            count[0] += 1

    old = sys.getswitchinterval()
    spinner = threading.Thread(target=spin)
    spinner.start()
    started.wait()
    sys.setswitchinterval(0.5)        # far longer than the call below
    try:
        time.sleep(0.001)             # hand over once, so the spinner now waits under the new interval
        before = count[0]
        call()
        moved = count[0] != before
    finally:
        stop[0] = True
        sys.setswitchinterval(old)
        spinner.join()
    return moved


@pytest.mark.skipif(platform.python_implementation() == "PyPy",
                    reason="PyPy's cffi releases the GIL around C calls; the core is behind a mutex there")
def test_c_calls_keep_the_gil():
    """The C core is entered with the GIL held (stock cffi wrappers release
    it per call, and then, with a busy second thread, every op waits a whole
    switch interval: the "convoy"). One long C call, a 200,000-node sweep,
    must let no other Python thread run."""
    acc = C(0.5)
    for _ in range(100_000):
        acc = acc * 1.0 + 0.5
    assert not _other_thread_ran_during(acc.backward)
    assert _other_thread_ran_during(lambda: time.sleep(0.02))   # the probe sees a call that lets go
