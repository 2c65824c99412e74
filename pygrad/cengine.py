"""The C engine: `Value` as a thin handle on a node owned by the C core.

A Value holds its node's id (and, once set, a label or the user's own
attributes). Each operator is one call into C that computes the forward
value and returns the new node's id; `backward()` is one call that sorts
and sweeps the whole graph in C. The handle keeps its node alive through
the core's reference count; parents keep their children alive, so
intermediate nodes need no Python object at all: `_prev` wraps them on
demand, and gives back the user's own Value where it can find it by node
id, in O(1) (_handle): every Value with the C type handle; leaves,
labelled Values and its own handles with the Python handle (see below).
"""
import atexit
import gc
import sys
import threading
import warnings
import weakref
from operator import attrgetter
from typing import Any, Dict, Tuple

from . import _errors, _ops, _trace
from ._api import ValueBase, as_float, as_value, mixed_engines, node_args, number_or_none, op_data
from ._errors import error
from ._ffi import Handle as _CHandle
from ._ffi import check, check_id, ffi, lib, require, stats  # noqa: F401  (stats re-exported)
from ._pypy import grew as _grew
from ._pypy import left as _left

require()

_binary, _binary_k, _unary, _nary, _leaf = lib.pg_binary, lib.pg_binary_k, lib.pg_unary, lib.pg_nary, lib.pg_leaf
_incref = lib.pg_incref


# -- the Python handle's table of Values, for `_prev` --------------------------
# (The C type keeps a table of every handle, in C: pygrad/_handle.c.) The
# Python handle registers leaves, labelled Values and the handles `_prev`
# makes, not operator results: a weak reference per op made PyPy's eager
# `a * b` go from 90 to over 1,000 ns. So `_prev` gives an unlabelled
# operator result the user holds as an equal Value (the same node, `==`
# and hash), not as the same object (see the README).
#
# A registered Value's entry is an _Owner: a weak reference to it, whose
# callback releases a node reference of its own (taken at registration).
# The handle still releases its own reference in __del__, but a finalizer
# runs while the object can still be reached (CPython clears weak
# references after __del__; PyPy may run it later), so `_prev` in another
# thread can hand out a Value whose __del__ has begun: the owner's
# reference keeps its node until the Value is gone for good, when nothing
# can hand it out any more.
#
# On PyPy the handles `_prev` makes have no finalizer at all (_walked): the
# owner's reference is their only one. A Value keeps the handles its `_prev`
# gave, and PyPy finalizes an object only once no other object with a
# finalizer can reach it, so a chain of handles with __del__ is finalized one
# link per major collection: a walked chain of a million nodes stayed in the
# core for a million collections. Without finalizers the whole chain dies in
# one collection, and its owners' callbacks release every node.

class _Owner(weakref.ref):
    __slots__ = ("id",)
    id: int   # the node


# node id -> the owner of the registered handle on it. No lock: a Ctrl-C
# can strike inside a `with lock:` on PyPy and leave the lock held (and the
# next `_prev` in another thread waiting forever). Without one, two threads
# asking for one node at the same moment may get two (equal) handles.
_owners: Dict[int, _Owner] = {}
# id(owner) -> owner, for owners whose entry another handle on the node took
# (a label given to a Value when `_prev` had made a handle on its node): an
# owner nothing keeps alive never calls back, and its reference would leak.
_displaced: Dict[int, _Owner] = {}


def _release(owner, _decref=lib.pg_decref):
    node_id = owner.id
    # Subscripts, not .get(): no call between the test and the delete, so
    # no other thread runs in between. The node is still alive here, so
    # its id is not reused meanwhile.
    if node_id in _owners and _owners[node_id] is owner:
        del _owners[node_id]
    elif _displaced:
        _displaced.pop(id(owner), None)
    _decref(node_id)


def _register(v):
    """Make the Python handle v the one `_prev` gives for its node."""
    node_id = v._id
    old = _owners.get(node_id)
    if old is not None:
        if old() is v:
            return
        _displaced[id(old)] = old   # until its own handle goes (its callback)
    owner = _Owner(v, _release)
    owner.id = node_id
    _owners[node_id] = owner   # (no call between this and the incref: no interrupt either)
    status = lib.pg_incref(node_id)
    if status:
        del _owners[node_id]
        raise error(status)


def _py_handle(node_id):
    """The registered handle on an existing node (the user's own Value for
    leaves and labelled Values), or a new one (_walked)."""
    owner = _owners.get(node_id)
    v = owner() if owner is not None else None
    if v is None:
        v = _walked(node_id)
    return v


def _walked_counted(node_id):
    """A new registered handle on node_id, with a reference of its own
    (released by __del__) beside its owner's."""
    v = _new(Value)
    _own(v, node_id)         # before the incref: an interrupt in between leaks nothing
    check(lib.pg_incref(node_id))
    _register(v)
    return v


def _walked_unfinalized(node_id):
    """PyPy: a new registered handle on node_id without a finalizer, its
    owner's reference its only one. PyPy registers an object's finalizer
    when it allocates it, by its class then (and warns that a __del__
    added later is never called); so it is allocated as _Unfinalized,
    Value's layout without __del__, and then made a Value."""
    v = _new_unfinalized(_Unfinalized)
    v.__class__ = Value
    _own(v, node_id)
    _register(v)             # (an interrupt before its incref: no reference, nothing to release)
    return v


# Ctrl-C: Python runs signal handlers right after a call returns, so an
# interrupt can strike between a creating call into C and the line that
# keeps its id. Each such call sits alone in a `try` (no Python runs
# before it there), whose handler drops the node the core made last.
_release_unowned = lib.pg_release_unowned


# -- the Python handle's operators ---------------------------------------------
# (On CPython the C handle has its own; these serve PyPy and PYGRAD_C_HANDLE=0.)
# Each is ValueBase's method with its op code bound, calling C directly. The
# call-and-own sequence is written out in each, not shared: routed through
# one helper (with the operand check of _operand), PyPy's eager `acc*a + b`
# went from 87 to over 600 ns per op. A float operand, the common case, is
# taken as it is; an int (sum()'s starting 0, `x ** 2`) is converted inline.
# Each node-making call ends by counting the node down in `_left` and, on
# PyPy, once every so many nodes, looks whether to collect (_grew,
# pygrad/_pypy.py); elsewhere the count never runs out.

def _binary_method(op, kop):
    def method(self, other):
        a = self._id
        if type(other) is Value or isinstance(other, Value):   # (a subclass of ours)
            b = other._id
            try:
                r = _binary(op, a, b)
                v = _new(Value)
            except BaseException:
                _release_unowned()
                raise
        else:
            k = other if type(other) is float else float(other) if type(other) is int else number_or_none(other)
            if k is None:
                if isinstance(other, ValueBase):
                    raise mixed_engines(type(self), type(other))
                return NotImplemented
            try:
                r = _binary_k(kop, a, k, 0)
                v = _new(Value)
            except BaseException:
                _release_unowned()
                raise
        if r < 0:
            raise error(-r, _ops.LABELS[op])
        _own(v, r)
        _left[0] -= 1
        if _left[0] < 0:
            _grew()
        return v
    return method


def _reflected_method(op):
    def method(self, other):
        k = other if type(other) is float else float(other) if type(other) is int else number_or_none(other)
        if k is None:
            return NotImplemented
        a = self._id
        try:
            r = _binary_k(op, a, k, 1)
            v = _new(Value)
        except BaseException:
            _release_unowned()
            raise
        if r < 0:
            raise error(-r, _ops.LABELS[op])
        _own(v, r)
        _left[0] -= 1
        if _left[0] < 0:
            _grew()
        return v
    return method


def _unary_method(op):
    def method(self):
        a = self._id
        try:
            r = _unary(op, a)
            v = _new(Value)
        except BaseException:
            _release_unowned()
            raise
        if r < 0:
            raise error(-r, _ops.LABELS[op])
        _own(v, r)
        _left[0] -= 1
        if _left[0] < 0:
            _grew()
        return v
    return method


def set_grad_enabled(on):
    """Turn graph building on or off in the C core; returns the previous setting."""
    return bool(lib.pg_set_grad_enabled(1 if on else 0))


# -- the handle ----------------------------------------------------------------
# A Value is a handle: its node's id, the reference it holds, the operators,
# `data` and `grad`. On CPython the handle is a C type (pygrad/_handle.c): an
# operator is then one C call with no Python frame. Elsewhere (PyPy), or with
# PYGRAD_C_HANDLE=0, it is this class, with the operators installed below.

def _node_field(get, put, doc):
    """`data` or `grad` of the Python handle: read and written in the node."""
    def read(self):
        return get(self._id)

    def write(self, x):
        status = put(self._id, x if type(x) is float else as_float(x))
        if status:
            raise error(status)
    return property(read, write, doc=doc)


def _read_only_id(self, node_id):
    raise AttributeError("a Value's _id is read-only: it is set once, when the Value is made")


class _PyNode:
    """The Python handle's body: its node's id, `data` and `grad`."""

    __slots__ = ("_node",)
    _node: int   # the node's id in the C core
    _id = property(attrgetter("_node"), _read_only_id, doc="the node's id in the C core")

    data = _node_field(lib.pg_data, lib.pg_set_data,
                       "The value (a float; ints and numpy reals are converted on assignment).")
    grad = _node_field(lib.pg_grad, lib.pg_set_grad, "d(root)/d(this), accumulated by backward(); also called `value`.")


class _PyHandle(_PyNode):
    """The handle in Python: the operators call C through cffi."""

    __slots__ = ()

    def __del__(self, _decref=lib.pg_decref):
        try:
            _decref(self._node)
        except AttributeError:   # interrupted before it got its node: nothing to release
            pass


_Handle: Any = _CHandle if _CHandle is not None else _PyHandle
_PY = _Handle is _PyHandle
# A handle on no node yet (its _id is set next): object.__new__ for the
# Python handle; the C type's __new__ gives _id -1, and setting its _id
# enters it in the C type's table.
_new = _Handle.__new__
# ... and pygrad's own way to give it that node: `_id` is read-only to users
# (a reassigned one corrupts the core's reference counts). A C-level setter:
# no Python frame, where Ctrl-C could strike, runs between the node's creation
# and a handle owning it.
if _Handle is _PyHandle:
    _own = _PyNode.__dict__["_node"].__set__     # the slot's own setter
else:
    _own = _Handle._id.__set__                   # _handle.c's set-once setter


class Value(_Handle, ValueBase):
    """A scalar and its gradient, on the C engine (the default).

    The default engine: each operator and `backward()` is one call into the
    C core. Same API and the same numbers as the reference engine's Value;
    the operators and methods are listed below.
    """
    # A handle holds its node's id. Intermediate nodes need no handle: parents
    # keep their children alive in C, and `_prev` wraps a child on demand.

    # The C type has these as fields of its own (pygrad/_handle.c): a class
    # that adds them pays CPython's generic dealloc for them on every result.
    __slots__ = ("_label", "_operands", "__dict__", "__weakref__") if _PY else ()
    _operands: Tuple[Any, ...]   # the handles `_children` gave, kept (set on first use)

    # `==` and hash mean "the same node", as identity does on the reference
    # engine (where a node is its Value): an operator's result the user holds
    # and the handle `_prev` gives for its node are equal.
    def __eq__(self, other):
        return isinstance(other, Value) and other._id == self._id

    def __hash__(self):
        return hash(self._id)

    @property
    def label(self) -> str:
        """A name for to_dot/draw (micrograd lecture's `label`); '' if none."""
        try:
            return self._label
        except AttributeError:
            return ""

    @label.setter
    def label(self, text: str) -> None:
        self._label = text
        if _PY:
            _register(self)   # a named Value is the one `_prev` gives back

    # Read from the node (the reference engine keeps them as attributes).
    @property
    def _opcode(self):  # type: ignore[override]
        return lib.pg_op(self._id)

    @property
    def _children(self):  # type: ignore[override]
        """The operands in order: the user's own Value where one is alive
        (see _handle), else a new handle. This handle keeps them, as
        micrograd's Value keeps its `_prev`, so a walk from a root the user
        holds meets each node as one object, even one keyed by id() alone."""
        try:
            return self._operands
        except AttributeError:
            i = self._id
            self._operands = tuple(_handle(lib.pg_kid(i, k)) for k in range(lib.pg_nkids(i)))
            return self._operands

    # -- fused n-ary nodes ----------------------------------------------------

    @staticmethod
    def _nary(code, values):
        """One node of n-ary op `code` over `values` (Values of this engine)."""
        return _from_nary(code, list(values))

    @staticmethod
    def sum(values):
        """One node for values[0] + values[1] + ..., added left to right."""
        vals = [v if type(v) is Value else as_value(Value, v) for v in values]
        if not vals:
            return Value(0.0)
        return _from_nary(_ops.SUM, vals)

    @staticmethod
    def dot(ws, xs, b):
        """One node for b + ws[0]*xs[0] + ws[1]*xs[1] + ..., added left to right."""
        ws, xs = list(ws), list(xs)
        if len(ws) != len(xs):
            raise ValueError(f"dot: {len(ws)} weights but {len(xs)} inputs")
        return _from_nary(_ops.DOT, [v if type(v) is Value else as_value(Value, v) for v in (*ws, *xs, b)])

    @staticmethod
    def dense(rows, biases):
        """A fused dense layer: `layer = Value.dense(rows, biases)`, then
        `layer(xs, relu)` gives, for each row of weights, (b + w . xs) (then
        relu'd), as a list of Values, in one C call."""
        from ._cdense import Dense
        return Dense(rows, biases)

    # -- backpropagation ------------------------------------------------------

    def _step(self):
        """Push this node's gradient into its children (one step of backward)."""
        check(lib.pg_backward_node(self._id), "_backward")

    # -- a user's op: micrograd's form keeps its op and _backward here

    @property
    def _user_op(self):
        entry = _hooks.get(self._id)
        return entry[0] if entry is not None else ""

    def _user_backward(self):
        entry = _hooks.get(self._id)
        return entry[1] if entry is not None else None

    def _set_user_backward(self, fn):
        _hooks.setdefault(self._id, ["", None])[1] = fn

    def backward(self, create_graph=False):
        """Sort the graph below this node and sweep it backwards, all in C.
        create_graph=True also leaves each leaf's gradient as a Value in
        `grad_value`, differentiable again (see pygrad.grad)."""
        if create_graph:
            from .functional import backward_graph
            return backward_graph(self)
        if not _hooks:   # the sweep runs no Python, so no other thread runs meanwhile
            check(lib.pg_backward(self._id), "backward")
            return
        with _sweep_lock:   # a _backward may let other threads run: they wait for this sweep
            check(lib.pg_backward(self._id), "backward")


def _made_in_c(cls):
    """cls again, as a class made by the C handle's type (same name, bases
    and attributes): CPython frees its instances with the handle's own
    dealloc, not the generic one of a class made by a `class` statement
    (pygrad/_handle.c, Handle._value_type). Its subclasses are ordinary."""
    with warnings.catch_warnings():   # its __module__ is set below: named so, errors say 'Value'
        warnings.simplefilter("ignore", DeprecationWarning)
        made = _Handle._value_type(cls.__bases__)
    for name, attr in vars(cls).items():
        if name not in ("__dict__", "__weakref__", "__slots__", "__qualname__"):
            setattr(made, name, attr)
    return made


if not _PY:
    globals()["Value"] = _made_in_c(Value)   # (by name: type checkers keep the class statement's)


# node id -> [op, _backward] for each micrograd-form node (Value(data,
# children, op)): what the backward hook calls at that node's turn. An entry
# is replaced when its id is reused for another such node, and dropped in
# _sweep_hooks once its node is gone.
_hooks: Dict[int, list] = {}
_hooks_swept_at = 1024
# Held by backward() while micrograd-form nodes exist: their _backward runs
# Python in the middle of the core's sweep, where another thread may get
# the GIL, and the core serves one sort at a time (another gets PG_EBUSY).
_sweep_lock = threading.RLock()


_SEQUENCES = (tuple, list)


def _microgpt_node(data, children, grads):
    """microgpt's Value(data, children, local_grads) of plain numbers and
    Values, in one call into C (the C handle has its own, in C); None for any
    other shape, which Value() makes the general way (_init_node)."""
    if type(data) not in (float, int) or not children or len(children) != len(grads):
        return None
    ids, local = [], []
    for k, g in zip(children, grads):
        if not isinstance(k, Value) or type(g) not in (float, int):
            return None
        ids.append(k._id)
        local.append(float(g))
    try:
        r = lib.pg_custom(float(data), len(ids), ids, local)
        v = _new(Value)
    except BaseException:
        _release_unowned()
        raise
    if r < 0:
        raise error(-r)
    _own(v, r)
    _left[0] -= 1
    if _left[0] < 0:
        _grew()
    return v


def _init_node(v, data, children=(), local_grads=None, label="", *, _children=(), _op=""):
    """The rest of Value(...) after __new__ made its node: a subclass's
    data, a label."""
    if type(v) is not Value:   # a subclass's __init__ may pass on other data
        v.data = data
    if label:
        v.label = label


def _node_spec(children=(), local_grads=None, label="", *, _children=(), _op=""):
    """Value()'s arguments after data: (children, local grads or None, op)."""
    return node_args(Value, children, local_grads, _children, _op)


def _custom_value(cls, data, kids, grads, op, given):
    """A handle of cls on a new user's op node over kids: microgpt's form
    with grads (local derivatives; given: as the user gave them), micrograd's
    with grads None. Made in __new__, so that the handle gets its node once
    (_id is set once)."""
    x = data if type(data) is float else op_data(data)
    ids = [k._id for k in kids]
    try:
        r = lib.pg_custom(x, len(ids), ids, ffi.NULL if grads is None else list(grads))
        v = _new(cls)
    except BaseException:
        _release_unowned()
        raise
    if r < 0:
        raise error(-r, op or "Value")
    _own(v, r)
    if grads is None and lib.pg_op(r) == _ops.HOOK:   # (a leaf under no_grad)
        _hooks[r] = [op, None]
    trace = _trace.current() if _trace._patched else None
    if trace is not None and lib.pg_op(r) != _ops.LEAF:
        trace.custom(v, r, data, given)
    _left[0] -= 1
    if _left[0] < 0:
        _grew()
    return v


def _sweep_hooks():
    """Drop the entries of micrograd-form nodes that are gone, and of those
    that only their own _backward keeps alive: micrograd's closures refer
    to their node (`out.grad`), so entry -> closure -> handle -> node is a
    cycle through C that Python's collector cannot see. Dropping one entry
    may free the nodes below it, so repeat until nothing more goes."""
    global _hooks_swept_at, _sweeping
    if _sweeping:   # (a collection during a sweep: its callback below)
        return
    _sweeping = True
    try:
        while True:
            dead = [i for i, entry in list(_hooks.items())
                    if lib.pg_op(i) != _ops.HOOK or _held_by_itself(i, entry[1])]
            for node_id in dead:
                _hooks.pop(node_id, None)
            if not dead:
                break
    finally:
        _sweeping = False
    _hooks_swept_at = max(1024, 2 * len(_hooks))


_sweeping = False


def _after_full_collection(phase, info):
    """A full collection (gc.collect()) frees micrograd's cycles of
    closures and nodes; so it does pygrad's, whose cycle runs through C."""
    if phase == "stop" and info.get("generation") == 2 and _hooks:
        _sweep_hooks()


if hasattr(gc, "callbacks"):
    gc.callbacks.append(_after_full_collection)


def _held_by_itself(node_id, fn):
    """Whether node_id's only holders are handles that only fn's closure
    holds (no parent, no other handle, no user variable). Reference counts
    say so on CPython; elsewhere (PyPy) such a node is kept."""
    if fn is None or not hasattr(sys, "getrefcount"):
        return False
    cells: Dict[int, Any] = {}   # id(handle) -> (the cell holding it, how many cells do)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            h = cell.cell_contents
        except ValueError:   # an empty cell
            continue
        if isinstance(h, Value) and h._id == node_id:
            cells[id(h)] = (cell, cells.get(id(h), (cell, 0))[1] + 1)
    h = None
    # Each handle: referred to by its cells and getrefcount's argument only.
    if not cells or any(sys.getrefcount(cell.cell_contents) != n + 1 for cell, n in cells.values()):
        return False
    return lib.pg_refs(node_id) == len(cells)


@ffi.def_extern()
def pygrad_backward_hook(node_id):
    """The core's backward hook (pg_set_backward_hook) with the Python
    handle: run the node's _backward. What it raises is parked for the
    core's caller to raise. (The C handle installs its own, in C.)"""
    entry = _hooks.get(node_id)
    if entry is None or entry[1] is None:
        return 0
    try:
        entry[1]()
    except BaseException as exc:   # (KeyboardInterrupt too: it propagates from backward())
        _errors.pending = exc
        return 1
    return 0


# Value's __new__ and __init__. They are not in the class body: the C
# handle's type makes microgpt's op nodes itself and calls these for the
# rest, and a class that ever had a Python __new__ keeps paying for the
# lookup of it (CPython's slot_tp_new) even once it is deleted.

def _value_new(cls, data, *args, **kwargs):
    """Value.__new__: the node (a leaf, or microgpt's op node), and its handle."""
    if args and len(args) == 2 and cls is Value and not kwargs and type(args[1]) in _SEQUENCES:
        made = _microgpt_node(data, args[0], args[1])
        if made is not None:
            return made
    if args or kwargs:
        try:
            kids, grads, op, given = _node_spec(*args, **kwargs)
        except TypeError:
            if cls is Value:
                raise
            kids = ()   # a subclass's own arguments (its __init__ takes them): a leaf
        if kids:
            return _custom_value(cls, data, kids, grads, op, given)
    x = data if type(data) is float else as_float(data)
    try:
        node_id = _leaf(x)
        self = _new(cls)
    except BaseException:
        _release_unowned()
        raise
    if node_id < 0:
        raise error(-node_id)
    _own(self, node_id)   # (the C type's table takes it in here)
    if _PY:   # _register(self), inlined (Value() is a hot path too; the node is new)
        owner = _Owner(self, _release)
        owner.id = node_id
        _owners[node_id] = owner
        _incref(node_id)
    _left[0] -= 1
    if _left[0] < 0:
        _grew()
    return self

def _value_init(self, data, *args, **kwargs):
    """Value(data, label=''): a leaf holding float(data) (its node is made in __new__).
    Value(data, children, local_grads): microgpt's op node; Value(data, children, op): micrograd's
    (its gradient comes from the `_backward` you assign)."""
    if args or kwargs or type(self) is not Value:   # (Value(x), the hot path, does nothing here)
        if len(args) == 2 and not kwargs and type(self) is Value and lib.pg_op(self._id) == _ops.CUSTOM:
            return   # __new__ made it (_microgpt_node)
        _init_node(self, data, *args, **kwargs)


def _grad_numbers(roots, seeds, inputs):
    """d (sum seeds[i] * roots[i]) / d inputs as floats, by backward's sweep
    in C (no grad changes)."""
    n = len(inputs)
    out = ffi.new("double[]", max(n, 1))
    check(lib.pg_grad_numbers_many(len(roots), [r._id for r in roots], [float(s) for s in seeds], n,
                                   [v._id for v in inputs] if n else ffi.NULL, out if n else ffi.NULL), "grad")
    return list(out[0:n])


def _grad_graph(root, seed, inputs):
    """d root / d inputs as Values, built in C (pygrad.functional): the
    sweep's results are new nodes whose one reference each Value takes."""
    n = len(inputs)
    out = ffi.new("int32_t[]", max(n, 1))
    check(lib.pg_grad_graph(root._id, -1 if seed is None else seed._id, n,
                            [v._id for v in inputs] if n else ffi.NULL, out if n else ffi.NULL), "grad")
    values = []
    try:
        for i in range(n):
            v = _new(Value)
            _own(v, out[i])
            values.append(v)
    except BaseException:   # interrupted: release what no Value took
        for i in range(len(values), n):
            lib.pg_decref(out[i])
        raise
    return values


def _from_nary(op, vals):
    # `vals` holds the handles until the node has taken its own references.
    n, ids = len(vals), [x._id for x in vals]
    try:
        r = _nary(op, n, ids)
        v = _new(Value)
    except BaseException:
        _release_unowned()
        raise
    if r < 0:
        raise error(-r, _ops.label(op))
    _own(v, r)
    _left[0] -= 1
    if _left[0] < 0:
        _grew()
    return v


def _install_operators(cls):
    """Give the Python handle its operators: ValueBase's methods with this
    engine's direct calls, keeping their names and docstrings."""
    def install(name, method):
        base = getattr(ValueBase, name)
        method.__name__, method.__qualname__, method.__doc__ = name, f"Value.{name}", base.__doc__
        setattr(cls, name, method)

    for stem, (op, kop) in _ops.BINARY.items():
        install(f"__{stem}__", _binary_method(op, kop))
        install(f"__r{stem}__", _reflected_method(op))
    for name, op in _ops.UNARY.items():
        install(name, _unary_method(op))


# What the C handle calls back into Python for: the exceptions, and operands
# that are neither a float nor an int.
def _fail(status, op):
    raise error(status, _ops.LABELS[op])


def _operand(self, other):
    """other as a float for an operator with self; None if it is not a number."""
    k = number_or_none(other)
    if k is None and isinstance(other, ValueBase):
        raise mixed_engines(type(self), type(other))
    return k


class _Unfinalized(_PyNode, ValueBase):
    """Value's layout without __del__ (see _walked_unfinalized)."""
    __slots__ = Value.__slots__


Value._leaf = Value   # detach()'s leaf
if _PY:
    _install_operators(_PyHandle)
    _handle = _py_handle
    # (CPython runs the __del__ of an object's class when it goes, whatever
    # class it was made as: there the handle takes its own reference.)
    _walked = _walked_unfinalized if sys.implementation.name == "pypy" else _walked_counted
    _new_unfinalized = _Unfinalized.__new__
    Value.__new__ = staticmethod(_value_new)   # type: ignore[assignment]
    Value.__init__ = _value_init   # type: ignore[method-assign]
    lib.pg_set_backward_hook(lib.pygrad_backward_hook)
else:
    # The C type makes microgpt's op nodes itself (one C call, no Python
    # frame) and calls _value_new and _value_init for everything else.
    _Handle._bind(Value, _fail, _operand, as_float, _value_new, _value_init, _hooks)
    # The C type keeps freed results for reuse: they go before the
    # interpreter's teardown frees the class they point at.
    atexit.register(_Handle._free_spares)
    _handle = _Handle._of
# ValueBase's hooks, for code that calls ValueBase's methods itself.
Value._binary_op = lambda self, op, kop, other: _binary_method(op, kop)(self, other)  # type: ignore[method-assign]
Value._reflected_op = lambda self, op, other: _reflected_method(op)(self, other)  # type: ignore[method-assign]
Value._unary_op = lambda self, op: _unary_method(op)(self)  # type: ignore[method-assign]
