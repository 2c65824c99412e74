"""The C engine: `Value` as a thin handle on a node owned by the C core.

A Value holds one int, its node id. Each operator is one call into C that
computes the forward value and returns the new node's id; `backward()` is
one call that sorts and sweeps the whole graph in C. The handle keeps its
node alive through the core's reference count; parents keep their
children alive, so intermediate nodes need no Python object at all.
"""
from . import _ops
from ._api import ValueBase, as_float, as_value, check_leaf_args, mixed_engines, number_or_none
from ._errors import error
from ._ffi import check, check_id, ffi, lib, require, stats  # noqa: F401  (stats re-exported)

require()

_new = object.__new__
_binary, _binary_k, _unary, _nary, _leaf = lib.pg_binary, lib.pg_binary_k, lib.pg_unary, lib.pg_nary, lib.pg_leaf


def _wrap_existing(node_id):
    """A new handle on a node that already exists (takes a reference)."""
    check(lib.pg_incref(node_id))
    v = _new(Value)
    v._id = node_id
    return v


def set_grad_enabled(on):
    """Turn graph building on or off in the C core; returns the previous setting."""
    return bool(lib.pg_set_grad_enabled(1 if on else 0))


class Value(ValueBase):
    """A scalar and its gradient, stored in the C core."""

    __slots__ = ("_id",)
    _id: int   # the node's id in the C core

    def __new__(cls, data, _children=(), _op=""):
        if _children or _op:
            check_leaf_args(_children, _op)
        node_id = _leaf(data if type(data) is float else as_float(data))
        if node_id < 0:
            raise error(-node_id)
        self = _new(cls)
        self._id = node_id
        return self

    def __init__(self, data, _children=(), _op=""):
        """Value(data): a leaf holding float(data) (the node is made in __new__)."""

    def __del__(self, _decref=lib.pg_decref):
        _decref(self._id)

    # Handles on the same node are the same Value (so `_prev` matches the
    # Values the user holds).
    def __eq__(self, other):
        return isinstance(other, Value) and other._id == self._id

    def __hash__(self):
        return hash(self._id)

    @property
    def data(self) -> float:
        """The value (a float; ints and numpy reals are converted on assignment)."""
        return lib.pg_data(self._id)

    @data.setter
    def data(self, x):
        check(lib.pg_set_data(self._id, as_float(x)))

    @property
    def grad(self) -> float:
        """d(root)/d(this), accumulated by backward(); also called `value`."""
        return lib.pg_grad(self._id)

    @grad.setter
    def grad(self, g):
        check(lib.pg_set_grad(self._id, as_float(g)))

    def _code(self):
        return lib.pg_op(self._id)

    def _kids(self):
        return tuple(_wrap_existing(lib.pg_kid(self._id, i)) for i in range(lib.pg_nkids(self._id)))

    # -- operators, built from the op table by ValueBase ----------------------

    @staticmethod
    def _make_binary(op, const_op, reflected):
        name = _ops.LABELS[op]
        k_first = 1 if reflected else 0

        def method(self, other):
            if type(other) is Value:
                r = _binary(op, other._id, self._id) if reflected else _binary(op, self._id, other._id)
            else:
                k = number_or_none(other)
                if k is None:
                    if isinstance(other, ValueBase):
                        raise mixed_engines(type(self), type(other))
                    return NotImplemented
                r = _binary_k(const_op, self._id, k, k_first)
            if r < 0:
                raise error(-r, name)
            v = _new(Value)
            v._id = r
            return v
        return method

    @staticmethod
    def _make_unary(op):
        name = _ops.LABELS[op]

        def method(self):
            r = _unary(op, self._id)
            if r < 0:
                raise error(-r, name)
            v = _new(Value)
            v._id = r
            return v
        return method

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
        """A fused dense layer: `plan(xs, relu)` gives, for each row of weights,
        (b + w . xs) (then relu'd), as a list of Values, in one C call."""
        from ._cdense import Dense
        return Dense(rows, biases)

    # -- backpropagation ------------------------------------------------------

    def _backward(self):
        """Push this node's gradient into its children (one step of backward)."""
        check(lib.pg_backward_node(self._id))

    def backward(self):
        """Sort the graph below this node and sweep it backwards, all in C."""
        check(lib.pg_backward(self._id), "backward")


def _adopt(node_id):
    """A handle on a node just created for us (its reference is ours)."""
    v = _new(Value)
    v._id = node_id
    return v


def _from_nary(op, vals):
    # `vals` holds the handles until the node has taken its own references.
    return _adopt(check_id(_nary(op, len(vals), [x._id for x in vals]), _ops.label(op)))
