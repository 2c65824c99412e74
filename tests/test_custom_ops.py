"""Users' own ops, as micrograd and microgpt programs write them, on both
engines and both C-engine handles:

- microgpt's form, Value(data, children, local_grads): a node whose
  backward adds local_grad * grad into each child;
- micrograd's form, Value(data, children, op) and a `_backward` closure,
  which backward() calls at the node's turn;
- monkeypatched methods (Value.tanh = ..., Value.__mul__ = ...).

Each program is checked bitwise against micrograd's and microgpt's own Value
classes, written here (small independent copies of their algorithms).
"""
import math
import os
import struct
import subprocess
import sys

import pytest

import pygrad
from pygrad import cengine

C, Ref = pygrad.value_class("c"), pygrad.value_class("python")
HERE = os.path.dirname(os.path.abspath(__file__))


def bits(x):
    return struct.pack("<d", x).hex()


# -- the originals ----------------------------------------------------------------


class MicrogptValue:
    """microgpt's Value: each op records its children and local gradients."""

    def __init__(self, data, children=(), local_grads=()):
        self.data, self.grad = data, 0
        self._children, self._local_grads = children, local_grads

    def __add__(self, other):
        other = other if isinstance(other, MicrogptValue) else MicrogptValue(other)
        return MicrogptValue(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, MicrogptValue) else MicrogptValue(other)
        return MicrogptValue(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, k):
        return MicrogptValue(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def __radd__(self, other):
        return self + other

    def tanh(self):
        t = math.tanh(self.data)
        return MicrogptValue(t, (self,), (1 - t ** 2,))

    def exp(self):
        e = math.exp(self.data)
        return MicrogptValue(e, (self,), (e,))

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1
        for v in reversed(topo):
            for child, local_grad in zip(v._children, v._local_grads):
                child.grad += local_grad * v.grad


class MicrogradValue:
    """micrograd's Value: each op sets a `_backward` closure. (Children are
    kept in order, not in a set, so that grads add up in one order.)"""

    def __init__(self, data, _children=(), _op=""):
        self.data, self.grad = data, 0.0
        self._backward = lambda: None
        self._children, self._op = _children, _op

    def __add__(self, other):
        other = other if isinstance(other, MicrogradValue) else MicrogradValue(other)
        out = MicrogradValue(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, MicrogradValue) else MicrogradValue(other)
        out = MicrogradValue(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k):
        out = MicrogradValue(self.data ** k, (self,), f"**{k}")

        def _backward():
            self.grad += (k * self.data ** (k - 1)) * out.grad
        out._backward = _backward
        return out

    def __radd__(self, other):
        return self + other

    def tanh(self):
        t = math.tanh(self.data)
        out = MicrogradValue(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t ** 2) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = MicrogradValue(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


# -- the user's ops, written for pygrad's Value as those programs do --------------


def microgpt_tanh(self):
    t = math.tanh(self.data)
    return type(self)(t, (self,), (1 - t ** 2,))


def microgpt_exp(self):
    e = math.exp(self.data)
    return type(self)(e, children=(self,), local_grads=[type(self)(e)])   # by keyword, a Value as local grad


def micrograd_tanh(self):
    t = math.tanh(self.data)
    out = type(self)(t, (self,), "tanh")

    def _backward():
        self.grad += (1 - t ** 2) * out.grad
    out._backward = _backward
    return out


def micrograd_exp(self):
    out = type(self)(math.exp(self.data), _children=(self,), _op="exp")

    def _backward():
        self.grad += out.data * out.grad
    out._backward = _backward
    return out


FORMS = {"microgpt": (microgpt_tanh, microgpt_exp, MicrogptValue),
         "micrograd": (micrograd_tanh, micrograd_exp, MicrogradValue)}


def program(V):
    """A small network through tanh and exp (methods of V), shared nodes,
    constants both sides; the bits of every leaf's data and grad."""
    xs = [V(0.1 * i - 0.3) for i in range(5)]
    ws = [V(0.07 * i + 0.02) for i in range(5)]
    hs = [(x * w + 0.5).tanh() for x, w in zip(xs, ws)]
    s = sum(hs)
    loss = (s * 0.3).exp() * s + hs[0] * hs[1] ** 2 + (hs[2] * hs[2]).tanh()
    loss.backward()
    return [bits(v) for p in xs + ws + [loss] for v in (p.data, p.grad)]


def patched_program(V, form):
    """program(V) with V.tanh and V.exp replaced by the user's ops of `form`,
    put back afterwards."""
    tanh, exp, _ = FORMS[form]
    saved = V.__dict__.get("tanh"), V.__dict__.get("exp")
    V.tanh, V.exp = tanh, exp
    try:
        return program(V)
    finally:
        for name, old in zip(("tanh", "exp"), saved):
            if old is None:
                delattr(V, name)
            else:
                setattr(V, name, old)


@pytest.mark.parametrize("form", FORMS)
def test_patched_ops_give_the_originals_numbers_bitwise(engine, form):
    expected = program(FORMS[form][2])
    assert patched_program(engine, form) == expected
    assert engine(0.5).tanh()._op == "tanh"    # the patch is gone


@pytest.mark.parametrize("form", FORMS)
def test_both_handles_give_the_originals_numbers_bitwise(form):
    """On the Python handle (PYGRAD_C_HANDLE=0) and the C handle, in fresh
    processes: the same bits as the original Value class."""
    code = f"import test_custom_ops as t, pygrad; print(' '.join(t.patched_program(pygrad.Value, {form!r})))"
    for c_handle in ("0", "1"):
        env = dict(os.environ, PYGRAD_ENGINE="c", PYGRAD_C_HANDLE=c_handle, PYTHONPATH=HERE)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.split() == program(FORMS[form][2]), c_handle


def test_patched_operators_take_effect_on_the_c_handle(monkeypatch):
    """The C type's number slots must not shadow an assignment to the class."""
    calls = []

    def mul(self, other):
        calls.append("mul")
        return C(self.data * float(other) + 1.0)

    monkeypatch.setattr(C, "__mul__", mul)
    monkeypatch.setattr(C, "__pow__", lambda self, k: C(-1.0))
    monkeypatch.setattr(C, "tanh", lambda self: C(42.0))
    assert (C(2.0) * 3).data == 7.0 and calls == ["mul"]
    assert C(0.0).tanh().data == 42.0 and (C(2.0) ** 2).data == -1.0
    monkeypatch.undo()
    assert (C(2.0) * 3).data == 6.0 and C(0.0).tanh()._op == "tanh" and (C(2.0) ** 2).data == 4.0


def test_patched_operators_take_effect_on_the_python_handle():
    code = ("import pygrad; V = pygrad.Value; V.__mul__ = lambda s, o: V(s.data * float(o) + 1.0); "
            "V.tanh = lambda s: V(42.0); V.__pow__ = lambda s, k: V(-1.0); "
            "print((V(2.0) * 3).data, V(0.0).tanh().data, (V(2.0) ** 2).data)")
    env = dict(os.environ, PYGRAD_ENGINE="c", PYGRAD_C_HANDLE="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["7.0", "42.0", "-1.0"]


def test_subclass_overrides_take_effect(engine):
    class Mine(engine):
        tanh = micrograd_tanh

    x = Mine(0.25)
    y = x.tanh() * 2
    y.backward()
    assert y._children[0]._op == "tanh"
    assert repr(x.grad) == repr((1 - math.tanh(0.25) ** 2) * 2.0)


# -- micrograd's form: the lecture's way --------------------------------------------


def test_backward_steps_by_hand_as_in_the_lecture(engine):
    """Nodes made with Value(data, children, op), each `_backward` assigned
    after the fact and called by hand, root first."""
    a, b = engine(2.0), engine(-3.0)
    c = engine(a.data * b.data, (a, b), "*")
    d = engine(math.tanh(c.data), (c,), "tanh")

    def c_back():
        a.grad += b.data * c.grad
        b.grad += a.data * c.grad

    def d_back():
        c.grad += (1 - d.data ** 2) * d.grad
    c._backward, d._backward = c_back, d_back
    assert d._backward is d_back and d._op == "tanh" and d._prev == {c}
    d.grad = 1.0
    d._backward()
    c._backward()
    dc = (1 - math.tanh(-6.0) ** 2)
    assert (repr(c.grad), repr(a.grad), repr(b.grad)) == (repr(dc), repr(-3.0 * dc), repr(2.0 * dc))


def test_a_node_without_backward_contributes_nothing(engine):
    a = engine(2.0)
    out = engine(a.data * 2, (a,), "double")
    (out * 3 + a).backward()
    assert (out.grad, a.grad) == (3.0, 1.0)     # only the direct path: micrograd's default _backward


def test_an_exception_in_backward_propagates_and_the_graph_stays_usable(engine):
    a = engine(2.0)
    out = engine(a.data, (a,), "f")

    def fail():
        raise ZeroDivisionError("mine")
    out._backward = fail
    root = out * a
    with pytest.raises(ZeroDivisionError, match="mine"):
        root.backward()

    def ok():
        a.grad += out.grad
    out._backward = ok
    a.grad = out.grad = 0.0
    root.backward()
    assert a.grad == 4.0     # d(a*a)/da through both paths


def test_under_no_grad_a_users_op_is_a_leaf(engine):
    a = engine(2.0)
    with pygrad.no_grad():
        y = micrograd_tanh(a)
        z = microgpt_tanh(a)
    assert y._prev == set() and z._prev == set() and y.data == z.data == math.tanh(2.0)


# -- microgpt's form: numbers --------------------------------------------------------


def test_microgpt_nodes_equal_microgpts_value_with_repeated_children(engine):
    def square_sum(V):
        x, y = V(0.3), V(-1.1)
        sq = V(x.data * x.data, (x, x), (x.data, x.data))    # x twice: both local grads add
        out = V(sq.data + y.data * 3, [sq, y, y], [1, 1.5, 1.5])
        out.backward()
        return [bits(v) for p in (x, y, sq, out) for v in (p.data, p.grad)]
    assert square_sum(engine) == square_sum(MicrogptValue)


# -- memory -----------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_dropped_graphs_of_users_ops_free_their_nodes(form, live_nodes):
    """A closure that refers to its own node (micrograd's do) must not keep
    the graph alive once the user drops it."""
    if form == "micrograd" and sys.implementation.name == "pypy":
        pytest.skip("PyPy has no reference counts to tell a closure's own node from a kept one "
                    "(the README says such a graph stays alive there)")
    tanh = FORMS[form][0]
    before = live_nodes()   # (its gc.collect() also frees what earlier tests dropped)
    for _ in range(200):
        x = C(0.5)
        y = tanh(tanh(x) * 2)
        y.backward()
        del x, y
    assert live_nodes() == before   # after a gc.collect(), as micrograd's cycles
    if sys.implementation.name != "pypy":   # (there, earlier tests' micrograd-form graphs stay, as documented)
        assert not [i for i in cengine._hooks if cengine.lib.pg_op(i) == pygrad._ops.HOOK]



SHAPES = {   # Value(...) arguments for a node over x, y: the C handle makes some in C, others in Python
    "tuples": lambda V, x, y: V(1.5, (x, y), (0.25, -2.0)),
    "lists": lambda V, x, y: V(1.5, [x, y], [0.25, -2.0]),
    "int_data_and_grads": lambda V, x, y: V(3, (x, y), (2, -1)),
    "bool_grad": lambda V, x, y: V(1.5, (x, y), (True, 0.5)),
    "value_grad": lambda V, x, y: V(1.5, (x, y), (y, x)),
    "keywords": lambda V, x, y: V(1.5, children=(x, y), local_grads=(0.25, -2.0)),
    "all_keywords": lambda V, x, y: V(data=1.5, children=[x, y], local_grads=[0.25, -2.0]),
    "value_data": lambda V, x, y: V(x * 2, (x, y), (0.25, -2.0)),
    "many_children": lambda V, x, y: V(1.5, (x, y) * 6, tuple(0.5 * i for i in range(12))),
    "with_label": lambda V, x, y: V(1.5, (x, y), (0.25, -2.0), "mine"),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_way_to_make_a_microgpt_node_gives_the_same_bits(shape):
    def run(V):
        x, y = V(0.75), V(-1.25)
        node = SHAPES[shape](V, x, y)
        (node * node).backward()
        return [bits(v) for p in (x, y, node) for v in (p.data, p.grad)], getattr(node, "label", "")
    assert run(C) == run(Ref)
    if shape not in ("bool_grad", "value_grad", "with_label", "value_data"):   # what microgpt's own class takes too
        assert run(C)[0] == run(MicrogptValue)[0]
    assert run(C)[1] == ("mine" if shape == "with_label" else "")


def test_another_threads_backward_waits_for_a_running_backward():
    """A micrograd-form _backward runs Python mid-sweep, so other threads run
    meanwhile: their backward must wait for the sweep, not fail."""
    import threading
    import time
    started, errors = threading.Event(), []

    def slow_graph():
        a = C(1.0)
        out = C(2.0, (a,), "slow")

        def _backward():
            started.set()
            time.sleep(0.2)     # lets the other thread run
            a.grad += out.grad
        out._backward = _backward
        return a, out * 3

    def other():
        started.wait(5)
        try:
            x = C(2.0)
            (x * x).backward()
            errors.append(x.grad)
        except Exception as exc:  # the failure under test
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    a, root = slow_graph()
    root.backward()
    t.join()
    assert errors == [4.0] and a.grad == 3.0


def test_a_leaf_by_keyword_holds_its_data(engine):
    """Value(data=x): the C handle once made a handle on no node (data nan)."""
    v = engine(data=3.0, label="k")
    assert (v.data, v.grad, v.label) == (3.0, 0.0, "k")
    (v * v).backward()
    assert v.grad == 6.0
