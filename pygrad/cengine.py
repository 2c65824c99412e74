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
import weakref
from typing import Any, Dict, Tuple

from . import _ops
from ._api import ValueBase, as_float, as_value, check_leaf_args, mixed_engines, number_or_none
from ._errors import error
from ._ffi import Handle as _CHandle
from ._ffi import check, check_id, ffi, lib, require, stats  # noqa: F401  (stats re-exported)

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

class _Owner(weakref.ref):
    __slots__ = ("id",)
    id: int   # the node


# node id -> the owner of the registered handle on it. No lock: a Ctrl-C
# can strike inside a `with lock:` on PyPy and leave the lock held (and the
# next `_prev` in another thread waiting forever). Without one, two threads
# asking for one node at the same moment may get two (equal) handles.
_owners: Dict[int, _Owner] = {}


def _release(owner, _decref=lib.pg_decref):
    node_id = owner.id
    # Subscripts, not .get(): no call between the test and the delete, so
    # no other thread runs in between. The node is still alive here, so
    # its id is not reused meanwhile.
    if node_id in _owners and _owners[node_id] is owner:
        del _owners[node_id]
    _decref(node_id)


def _register(v):
    """Make the Python handle v the one `_prev` gives for its node."""
    node_id = v._id
    owner = _owners.get(node_id)
    if owner is not None and owner() is v:
        return
    owner = _Owner(v, _release)
    owner.id = node_id
    _owners[node_id] = owner   # (no call between this and the incref: no interrupt either)
    status = lib.pg_incref(node_id)
    if status:
        del _owners[node_id]
        raise error(status)


def _py_handle(node_id):
    """The registered handle on an existing node (the user's own Value for
    leaves and labelled Values), or a new one (taking a reference)."""
    owner = _owners.get(node_id)
    v = owner() if owner is not None else None
    if v is None:
        v = _new(Value)
        v._id = node_id          # before the incref: an interrupt in between leaks nothing
        check(lib.pg_incref(node_id))
        _register(v)
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
        v._id = r
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
        v._id = r
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
        v._id = r
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


class _PyHandle:
    """The handle in Python: the operators call C through cffi."""

    __slots__ = ("_id",)
    _id: int   # the node's id in the C core

    def __del__(self, _decref=lib.pg_decref):
        try:
            _decref(self._id)
        except AttributeError:   # interrupted before it got its node: nothing to release
            pass

    data = _node_field(lib.pg_data, lib.pg_set_data,
                       "The value (a float; ints and numpy reals are converted on assignment).")
    grad = _node_field(lib.pg_grad, lib.pg_set_grad, "d(root)/d(this), accumulated by backward(); also called `value`.")


_Handle: Any = _CHandle if _CHandle is not None else _PyHandle
_PY = _Handle is _PyHandle
# A handle on no node yet (its _id is set next): object.__new__ for the
# Python handle; the C type's __new__ gives _id -1, and setting its _id
# enters it in the C type's table.
_new = _Handle.__new__


class Value(_Handle, ValueBase):
    """A scalar and its gradient, stored in the C core.

    A handle holds its node's id. Intermediate nodes need no handle: parents
    keep their children alive in C, and `_prev` wraps a child on demand.
    """

    __slots__ = ("_label", "_operands", "__dict__", "__weakref__")
    _operands: Tuple[Any, ...]   # the handles `_children` gave, kept (set on first use)

    def __new__(cls, data, *args, **kwargs):
        x = data if type(data) is float else as_float(data)
        try:
            node_id = _leaf(x)
            self = _new(cls)
        except BaseException:
            _release_unowned()
            raise
        if node_id < 0:
            raise error(-node_id)
        self._id = node_id   # (the C type's table takes it in here)
        if _PY:   # _register(self), inlined (Value() is a hot path too; the node is new)
            owner = _Owner(self, _release)
            owner.id = node_id
            _owners[node_id] = owner
            _incref(node_id)
        return self

    def __init__(self, data, _children=(), _op="", label=""):
        """Value(data, label=''): a leaf holding float(data) (its node is made in __new__)."""
        if _children or _op or label or type(self) is not Value:
            check_leaf_args(_children, _op)
            if label:
                self.label = label
            if type(self) is not Value:   # a subclass's __init__ may pass on other data
                self.data = data

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

    def _backward(self):
        """Push this node's gradient into its children (one step of backward)."""
        check(lib.pg_backward_node(self._id))

    def backward(self):
        """Sort the graph below this node and sweep it backwards, all in C."""
        check(lib.pg_backward(self._id), "backward")




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
    v._id = r
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


if _PY:
    _install_operators(_PyHandle)
    _handle = _py_handle
else:
    _Handle._bind(Value, _fail, _operand, as_float)
    _handle = _Handle._of
# ValueBase's hooks, for code that calls ValueBase's methods itself.
Value._binary_op = lambda self, op, kop, other: _binary_method(op, kop)(self, other)  # type: ignore[method-assign]
Value._reflected_op = lambda self, op, other: _reflected_method(op)(self, other)  # type: ignore[method-assign]
Value._unary_op = lambda self, op: _unary_method(op)(self)  # type: ignore[method-assign]
