"""Operator results made cheaply: on CPython the C handle keeps freed
results of the engine's own Value class on a free list and reuses them,
a Value's dict, weak references, label and kept operands are fields of
the C type, and the Value class itself is made by the C type, so that its
instances skip CPython's generic dealloc (pygrad/_handle.c). Whatever an object carried before, a result
must look new: no label, no attributes, no weak references; weak reference
callbacks, __del__, cycles through a result's attributes and the class's
reference count must behave as for any Python object. Each test runs on
both engines (the reference engine is the specification)."""
import copy
import gc
import os
import pickle
import subprocess
import sys
import weakref

import pytest

from pygrad import _ffi

# They rely on an object going the moment its last reference does (and
# count references): CPython's behaviour, which the free list builds on.
# PyPy has no free list (its Value is the Python handle) and frees only when
# it collects: what these tests check there is PyPy's GC, not pygrad.
pytestmark = pytest.mark.skipif(sys.implementation.name == "pypy",
                                reason="reference counting: PyPy frees objects when it collects")

ROUNDS = 300   # more than the free list holds (128): its bound is reached in every test


def churn(engine, rounds=ROUNDS):
    """Results made, decorated in every way a user can, and dropped, so that
    the next results are (on the C handle) the same objects again."""
    a, b = engine(1.5), engine(-0.5)
    fired = []
    for i in range(rounds):
        v = a * b + i
        v.label = f"old{i}"
        v.note = i
        v.__dict__["more"] = [i]
        weakref.ref(v, fired.append)   # (the reference itself dies first: no callback)
        keep = weakref.ref(v, fired.append)
        del v
        assert keep() is None
    return fired


def test_recycled_results_carry_no_label_attribute_or_weak_reference(engine):
    churn(engine)
    a, b = engine(1.5), engine(-0.5)
    fresh = [a * b for _ in range(ROUNDS)] + [a + 1.0 for _ in range(ROUNDS)] + [(-a).exp() for _ in range(ROUNDS)]
    for v in fresh:
        assert type(v) is engine
        assert v.label == "" and vars(v) == {} and not hasattr(v, "note")
        assert weakref.getweakrefcount(v) == 0
    assert all({id(k) for k in v._prev} == {id(a), id(b)} for v in fresh[:ROUNDS])   # the user's own operands
    assert [repr(v.data) for v in fresh[:2]] == [repr(-0.75)] * 2


def test_weak_reference_callbacks_fire_for_every_dropped_result(engine):
    fired = churn(engine)
    assert len(fired) == ROUNDS           # one per result: the kept reference's
    a = engine(2.0)
    refs, calls = [], []
    for _ in range(ROUNDS):               # on reused objects, new references work again
        v = a * 3.0
        refs.append(weakref.ref(v, calls.append))
        assert refs[-1]() is v
        del v
    assert len(calls) == ROUNDS and all(r() is None for r in refs)


def test_subclass_results_and_instances_keep_their_own_type(engine):
    class Slotted(engine):
        __slots__ = ("extra",)

    class Plain(engine):
        pass

    for _ in range(ROUNDS):   # subclass instances freed among Value results
        s, p = Slotted(1.0), Plain(2.0)
        s.extra, p.more = "s", "p"
        r = s * p
        del s, p
    assert type(r) is engine and not hasattr(r, "extra") and vars(r) == {}
    s = Slotted(3.0)
    assert type(s) is Slotted and not hasattr(s, "extra")
    p = Plain(4.0)
    assert type(p) is Plain and vars(p) == {}
    assert type(s * p) is engine and (s * p).data == 12.0


def test_a_cycle_through_a_result_is_collected(engine, live_nodes):
    """A result's dict, label and kept operands are seen by the collector:
    a cycle through any of them frees its nodes at gc.collect()."""
    gc.collect()
    before = live_nodes()
    a, b = engine(0.5), engine(4.0)
    watch = []
    for make_cycle in (lambda v: setattr(v, "me", v),
                       lambda v: setattr(v, "label", [v]),
                       lambda v: setattr(next(iter(v._prev)), "parent", v)):   # via its operand a * b
        v = (a * b).exp()
        v.__dict__["x"] = 1.0
        make_cycle(v)
        watch.append(weakref.ref(v))
        del v
    gc.collect()
    assert [w() for w in watch] == [None, None, None]
    del a, b
    assert live_nodes() == before


def test_dict_assignment_and_deletion(engine):
    """`__dict__` set, refused, deleted and made anew, as for a Python class."""
    v = engine(1.0) * 2
    v.__dict__ = {"a": 1}
    assert v.a == 1 and vars(v) == {"a": 1}
    with pytest.raises(TypeError):
        v.__dict__ = [("a", 2)]
    assert v.a == 1
    del v.__dict__                       # as CPython's own: the attributes go
    assert vars(v) == {} and not hasattr(v, "a")
    v.b = 2
    assert vars(v) == {"b": 2}


def test_copies_and_pickles_of_reused_objects_keep_their_state(engine):
    churn(engine)
    v = engine(3.0) * 2
    v.label, v.tag = "v", {"k": 1}
    for clone in (copy.copy(v), copy.deepcopy(v), pickle.loads(pickle.dumps(v))):
        assert type(clone) is engine and repr(clone.data) == repr(6.0)
        assert clone.label == "v" and clone.tag == {"k": 1}


def test_the_class_reference_count_is_steady(engine):
    """Objects taken from the free list and put back hold and drop their
    class's reference as new and freed objects do."""
    a = engine(1.0)
    churn(engine)
    xs = [a * a for _ in range(ROUNDS)]   # the free list is full, before and after
    del xs
    before = sys.getrefcount(engine)
    for _ in range(3 * ROUNDS):
        v = a * a
        v.label = "x"
        del v
    xs = [a * a for _ in range(ROUNDS)]
    del xs
    assert sys.getrefcount(engine) == before


def test_the_value_class_is_named_and_pickled_as_a_class_statement_makes_it(engine):
    assert engine.__name__ == engine.__qualname__ == "Value"
    assert repr(engine) == f"<class '{engine.__module__}.Value'>"
    assert pickle.loads(pickle.dumps(engine)) is engine
    assert engine.__doc__.startswith("A scalar and its gradient")
    with pytest.raises(TypeError, match="for \\+: 'Value' and 'str'"):
        engine(1.0) + "x"


FINALIZER = r"""
import pygrad, pygrad.cengine as c
calls = []
c.Value.__del__ = lambda self: calls.append(1)
a = pygrad.Value(1.0)
for _ in range(1000):
    a * a
print(len(calls))
"""


@pytest.mark.skipif(_ffi.Handle is None, reason="the C handle type is not in this build")
def test_a_value_class_given_del_calls_it_for_every_result():
    """An object whose __del__ ran is not reused (its __del__ would not run
    again)."""
    out = subprocess.run([sys.executable, "-c", FINALIZER], capture_output=True, text=True,
                         env=dict(os.environ, PYGRAD_ENGINE="c"))
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == 1000


EXIT = r"""
import atexit, gc, weakref, pygrad
V = pygrad.Value
a = V(2.0)
keep = [a * a for _ in range(500)]
def late():   # runs before pygrad's atexit handler: results made and dropped at exit
    xs = [a * i for i in range(300)]
    xs[0].me = xs
    del xs
atexit.register(late)
del keep
class Holder:   # results freed during the interpreter's teardown, after the free list is gone
    pass
Holder.values = [a + i for i in range(300)]
print("ok")
"""


@pytest.mark.skipif(_ffi.Handle is None, reason="the C handle type is not in this build")
def test_exit_frees_the_free_list_without_error():
    """The free list is emptied at exit; results freed after that (module
    teardown) are freed, not kept. CPython's debug allocator checks that no
    block is freed twice or used after its free."""
    out = subprocess.run([sys.executable, "-X", "dev", "-c", EXIT], capture_output=True, text=True,
                         env=dict(os.environ, PYGRAD_ENGINE="c", PYTHONMALLOC="debug"))
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
    assert out.stderr == ""
