"""The pure-Python reference engine: pygrad's specification.

The tutorial's algorithm in plain Python. A node keeps its data, its grad,
its op code and its children in order; each op is one row of RULES (its
forward rule and its local derivatives); `backward()` sorts the graph
depth-first and lets each node, last first, push `local * grad` into its
children. There are no closures and no reference cycles, so dropped graphs
are freed at once by reference counting, and the sort is iterative, so deep
graphs work. The C engine (cengine.py) must give these numbers exactly.
"""
import math
import os
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from . import _ops, _trace
from ._api import ValueBase, as_float, as_value, mixed_engines, node_args, number_or_none, op_data
from ._errors import EDOMAIN, EINDEX, ENOGRAPH, ENOTINT, EOVERFLOW, EZERODIV, error
from ._ops import CUSTOM, DOT, HOOK, SUM

# ---------------------------------------------------------------------------
# forward rules that can fail: Python's float and math behaviour, with the
# same errors on both engines (errors are raised through _errors.error).


def divide(a, b):
    if b == 0.0:
        raise error(EZERODIV, "/")
    return a / b


def power(a, b):
    if b == 0.0:
        return 1.0                                  # x ** 0 == 1, even for NaN
    if math.isnan(a) or math.isnan(b):
        return math.pow(a, b)
    if a == 0.0 and b < 0.0 and math.isfinite(b):   # 0 ** -inf is inf
        raise error(EZERODIV, "**")
    if a < 0.0 and math.isfinite(a) and math.isfinite(b) and b != math.floor(b):
        raise error(EDOMAIN, "**")                  # Python would give a complex
    try:
        r = a ** b
    except OverflowError:
        raise error(EOVERFLOW, "**") from None
    if math.isinf(r) and math.isfinite(a) and math.isfinite(b):
        raise error(EOVERFLOW, "**")                # PyPy returns inf where CPython raises
    return r


def exp(a):
    try:
        return math.exp(a)
    except OverflowError:
        raise error(EOVERFLOW, "exp") from None


def log(a):
    if math.isnan(a):
        return a
    if a <= 0.0:
        raise error(EDOMAIN, "log")
    return math.log(a)


def _domain(fn, name):
    """math.fn, raising pygrad's domain error where math raises ValueError
    (sqrt(-1), sin(inf)); NaN passes through."""
    def rule(a):
        try:
            return fn(a)
        except ValueError:
            raise error(EDOMAIN, name) from None
    return rule


sqrt, sin, cos = _domain(math.sqrt, "sqrt"), _domain(math.sin, "sin"), _domain(math.cos, "cos")


def sigmoid(a):
    if a >= 0.0:                                    # split at 0: exp never overflows
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


# ---------------------------------------------------------------------------
# derivatives follow IEEE arithmetic, as C does: they never raise. Where
# IEEE makes a NaN, it is the NaN this machine's invalid operations make
# (C's 0 * inf; negative on x86), not math.nan, so that both engines agree
# to the bit; a NaN operand passes through, payload and all.

INVALID = math.inf * 0.0


def canonical(x):
    """x, or math.nan for any NaN: what users read (data, grad, compiled
    outputs) on both engines. Inside, NaN signs and payloads follow the
    arithmetic and differ between builds (C's csrc/core.h says the same)."""
    return x if x == x else math.nan


# The derivative rules below are written once and read two ways: on floats
# (the numeric sweep of backward) and on Values (the graph-building sweep of
# create_graph, pygrad.functional), so a gradient's graph has the same
# values as backward's numbers. A helper given a Value builds ops; where the
# op would raise (a derivative that is infinite or NaN there), the number
# becomes a constant of the graph.

def _is_value(*xs):
    return any(isinstance(x, ValueBase) for x in xs)


def _num(x):
    return x.data if isinstance(x, ValueBase) else x


def _is_zero(x):
    # Two comparisons, not `x == 0`: on a Value inside a compile_fn trace
    # each is a guard (== on Values means the same node).
    return x <= 0.0 and x >= 0.0


def _graph_or_number(build, numeric, *args):
    """build(*args) on Values; its numeric value as a constant where an op raises."""
    try:
        return build(*args)
    except (ArithmeticError, ValueError):
        return numeric(*map(_num, args))


def ieee_div(a, b):
    if _is_value(a, b):
        return _graph_or_number(lambda x, y: x / y, ieee_div, a, b)
    try:
        return a / b
    except ZeroDivisionError:
        if math.isnan(a):
            return a
        if a == 0.0:
            return INVALID
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _odd_integer(b):
    return math.isfinite(b) and b == math.floor(b) and math.fmod(b, 2.0) != 0.0


def ieee_pow(a, b):
    if _is_value(a, b):
        return _graph_or_number(lambda x, y: x ** y, ieee_pow, a, b)
    try:
        r = a ** b
    except ZeroDivisionError:                       # 0 ** negative
        return math.copysign(math.inf, a) if _odd_integer(b) else math.inf
    except OverflowError:
        return -math.inf if a < 0.0 and _odd_integer(b) else math.inf
    return INVALID if isinstance(r, complex) else r


def ieee_log(a):
    if _is_value(a):
        return _graph_or_number(lambda x: x.log(), ieee_log, a)
    if a > 0.0 or math.isnan(a):
        return math.log(a)
    return -math.inf if a == 0.0 else INVALID


def _ieee(f, a):
    """f(a) as C computes it: a NaN for an infinite a (Python's raises)."""
    if math.isfinite(a):
        return f(a)
    return a if math.isnan(a) else INVALID


def _sin(a):
    if _is_value(a):
        return _graph_or_number(lambda x: x.sin(), lambda x: _ieee(math.sin, x), a)
    return _ieee(math.sin, a)


def _cos(a):
    if _is_value(a):
        return _graph_or_number(lambda x: x.cos(), lambda x: _ieee(math.cos, x), a)
    return _ieee(math.cos, a)


def step(condition):
    """A 0/1 mask (relu's and abs's derivatives): a constant, on Values too."""
    return float(condition)


# The true derivatives of a ** b where IEEE gives NaN (0 * inf), as PyTorch
# masks them: a ** 0 is constant in a, 0 ** b (b >= 0) constant in b.
def dpow_base(a, b):
    return 0.0 if _is_zero(b) else b * ieee_pow(a, b - 1.0)


def dpow_exponent(a, b, out):
    return 0.0 if _is_zero(a) and b >= 0.0 else out * ieee_log(a)


# ---------------------------------------------------------------------------
# one row per op of _ops.TABLE: (forward(a[, b]), local derivatives(a, b, out));
# b is 0.0 for unary ops. The C core's rows are in csrc/ops.def.

RULES: Dict[str, Tuple[Callable[..., float], Callable[..., Tuple[float, ...]]]] = {
    "add": (lambda a, b: a + b, lambda a, b, out: (1.0, 1.0)),
    "mul": (lambda a, b: a * b, lambda a, b, out: (b, a)),
    "sub": (lambda a, b: a - b, lambda a, b, out: (1.0, -1.0)),
    "div": (divide, lambda a, b, out: (ieee_div(1.0, b), ieee_div(-out, b))),
    "pow": (power, lambda a, b, out: (dpow_base(a, b), dpow_exponent(a, b, out))),
    "powk": (power, lambda a, b, out: (dpow_base(a, b),)),   # the exponent is a constant
    "neg": (lambda a: -a, lambda a, b, out: (-1.0,)),
    "relu": (lambda a: 0.0 if a < 0.0 else a, lambda a, b, out: (step(out > 0.0),)),
    "tanh": (math.tanh, lambda a, b, out: (1.0 - out * out,)),
    "exp": (exp, lambda a, b, out: (out,)),
    "log": (log, lambda a, b, out: (ieee_div(1.0, a),)),
    "sigmoid": (sigmoid, lambda a, b, out: (out * (1.0 - out),)),
    "abs": (abs, lambda a, b, out: (step(a > 0.0) - step(a < 0.0),)),
    "sqrt": (sqrt, lambda a, b, out: (ieee_div(0.5, out),)),
    "sin": (sin, lambda a, b, out: (_cos(a),)),
    "cos": (cos, lambda a, b, out: (-_sin(a),)),
}
_BY_CODE = {_ops.CODES[name]: rule for name, rule in RULES.items()}


# The n-ary ops, one row each: (forward(values), local derivatives(values, out)),
# values being all the children's values in order. A derivative of None:
# no gradient flows to that child.

def sum_left_to_right(values):
    acc = values[0]
    for x in values[1:]:
        acc = acc + x
    return acc


def dot_forward(values):              # children: w..., x..., b
    m = len(values) // 2
    acc = values[-1]
    for w, x in zip(values[:m], values[m:2 * m]):
        acc = acc + w * x
    return acc


def dot_derivatives(values, out):
    m = len(values) // 2
    return tuple(values[m:2 * m]) + tuple(values[:m]) + (1.0,)


def select_index(x, n):
    """A select's index as Python indexes a list of n (negative from the end)."""
    if not math.isfinite(x) or x != math.floor(x):
        raise error(ENOTINT, "select")
    if not -n <= x < n:
        raise error(EINDEX, "select")
    return int(x) % n


def select_derivatives(values, out):  # children: index, values...
    chosen = 1 + select_index(values[0], len(values) - 1)
    return tuple(1.0 if i == chosen else None for i in range(len(values)))


NARY_RULES: Dict[str, Tuple[Callable[..., float], Callable[..., Tuple[Optional[float], ...]]]] = {
    "sum": (sum_left_to_right, lambda values, out: (1.0,) * len(values)),
    "dot": (dot_forward, dot_derivatives),
    "select": (lambda values: values[1 + select_index(values[0], len(values) - 1)], select_derivatives),
    "maxdata": (max, lambda values, out: (None,) * len(values)),   # Python's max: a NaN counts only if first
}
_NARY_BY_CODE = {_ops.CODES[name]: rule for name, rule in NARY_RULES.items()}


def evaluate(code, values):
    """The forward value of op `code` on its children's values."""
    if code in _NARY_BY_CODE:
        return _NARY_BY_CODE[code][0](values)
    return _BY_CODE[code][0](*values)


def local_derivatives(code, values, out):
    """d out / d child, for each child in order, from the children's values."""
    if code in _NARY_BY_CODE:
        return _NARY_BY_CODE[code][1](values, out)
    b = values[1] if len(values) > 1 else 0.0
    return _BY_CODE[code][1](values[0], b, out)


# ---------------------------------------------------------------------------


# Threads that share a graph must not interleave their sweeps' `+=`.
BACKWARD_LOCK = threading.RLock()


def _reset_lock_after_fork():
    # A child forked while another thread held the lock would wait forever.
    global BACKWARD_LOCK
    BACKWARD_LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


class _GradMode(threading.local):
    """Off inside pygrad.no_grad(): ops then make leaves holding their value.
    Per thread, as the C core's flag: every thread starts with it on."""
    enabled = True


grad_mode = _GradMode()


def set_grad_enabled(on):
    """Turn graph building on or off in this thread; returns the previous setting."""
    was, grad_mode.enabled = grad_mode.enabled, bool(on)
    return was


class Value(ValueBase):
    """A scalar and its gradient, on the pure-Python reference engine.

    The reference engine (PYGRAD_ENGINE=python): plain Python, the
    specification the C engine matches. Same API and the same numbers as
    the C engine's Value; the operators and methods are listed below.
    """

    # _custom: a user's op's local grads (CUSTOM), or [op, _backward] (HOOK).
    # _no_graph: set (True) only on an op's result made under no_grad; a slot,
    # so that a pickled or copied Value, a leaf, does not carry it (as in C)
    __slots__ = ("_data", "_grad", "_opcode", "_children", "_custom", "_no_graph", "__dict__", "__weakref__")
    _no_graph: bool
    _custom: Any

    def __init__(self, data, children=(), local_grads=None, label="", *, _children=(), _op=""):
        """Value(data, label=''): a leaf holding float(data); TypeError if data is not a real number.
        Value(data, children, local_grads): microgpt's op node; Value(data, children, op): micrograd's
        (its gradient comes from the `_backward` you assign)."""
        kids, grads, op, given = node_args(Value, children, local_grads, _children, _op)
        self._data = op_data(data) if kids else as_float(data)
        self._grad = 0.0
        self._opcode = _ops.LEAF
        self._children = ()
        if kids and grad_mode.enabled:
            self._opcode, self._children = (HOOK, kids) if grads is None else (CUSTOM, kids)
            self._custom = [op, None] if grads is None else grads   # [op, _backward] or the local grads
            trace = _trace.current()
            if trace is not None:
                trace.custom(self, id(self), data, given)
        elif kids:
            self._no_graph = True    # a user's op under no_grad: a leaf, as an op's result there
        if label:
            self.label = label

    def _init_leaf(self, data):
        """Make a Value that __new__ gave (unpickling, copies) a leaf holding data."""
        self._data, self._grad, self._opcode, self._children = as_float(data), 0.0, _ops.LEAF, ()

    @classmethod
    def _node(cls, code, data, children):
        out = cls.__new__(cls)
        if not grad_mode.enabled:
            code, children = _ops.LEAF, ()
            out._no_graph = True    # backward() from it is an error, as in the C core
        out._data, out._grad, out._opcode, out._children = data, 0.0, code, children
        return out

    @property
    def data(self) -> float:
        """The value (a float; ints and numpy reals are converted on assignment)."""
        return canonical(self._data)

    @data.setter
    def data(self, x):
        self._data = as_float(x)

    @property
    def grad(self) -> float:
        """d(root)/d(this), accumulated by backward(); also called `value`."""
        return canonical(self._grad)

    @grad.setter
    def grad(self, g):
        self._grad = as_float(g)

    # -- the operator hooks of ValueBase: each op's forward rule is its RULES row

    def _binary_op(self, op, kop, other):
        if isinstance(other, Value):
            code = op
        else:
            k = number_or_none(other)
            if k is None:
                if isinstance(other, ValueBase):
                    raise mixed_engines(type(self), type(other))
                return NotImplemented
            other, code = Value(k), kop      # a number operand becomes a leaf, as in micrograd
        return Value._node(code, _BY_CODE[code][0](self._data, other._data), (self, other))

    def _reflected_op(self, op, other):
        k = number_or_none(other)
        if k is None:
            return NotImplemented
        return Value._node(op, _BY_CODE[op][0](k, self._data), (Value(k), self))

    def _unary_op(self, op):
        return Value._node(op, _BY_CODE[op][0](self._data), (self,))

    # -- fused n-ary nodes ----------------------------------------------------

    @staticmethod
    def _nary(code, values):
        """One node of n-ary op `code` over `values` (Values of this engine)."""
        children = tuple(values)
        return Value._node(code, evaluate(code, [k._data for k in children]), children)

    @staticmethod
    def sum(values):
        """One node for values[0] + values[1] + ..., added left to right."""
        children = tuple(v if type(v) is Value else as_value(Value, v) for v in values)
        if not children:
            return Value(0.0)
        return Value._node(SUM, evaluate(SUM, [k._data for k in children]), children)

    @staticmethod
    def dot(ws, xs, b):
        """One node for b + ws[0]*xs[0] + ws[1]*xs[1] + ..., added left to right."""
        ws, xs = list(ws), list(xs)
        if len(ws) != len(xs):
            raise ValueError(f"dot: {len(ws)} weights but {len(xs)} inputs")
        children = tuple(v if type(v) is Value else as_value(Value, v) for v in ws + xs + [b])
        return Value._node(DOT, evaluate(DOT, [k._data for k in children]), children)

    @staticmethod
    def dense(rows, biases):
        """A dense layer: `layer = Value.dense(rows, biases)`, then
        `layer(xs, relu)` gives, for each row of weights, (b + w . xs) (then
        relu'd), as a list of Values."""
        rows, biases = [list(r) for r in rows], list(biases)
        if len(biases) != len(rows) or len({len(r) for r in rows}) > 1:
            raise ValueError("dense: every row needs the same number of weights, and one bias per row")

        nin = len(rows[0]) if rows else 0

        def layer(xs, relu=False):
            xs = list(xs)
            if len(xs) != nin:
                raise ValueError(f"dense: {nin} weights per row but {len(xs)} inputs")
            outs = [Value.dot(w, xs, b) for w, b in zip(rows, biases)]
            return [o.relu() for o in outs] if relu else outs
        return layer

    # -- backpropagation ------------------------------------------------------

    # -- a user's op: microgpt's local grads, micrograd's _backward

    @property
    def _user_op(self):
        return self._custom[0]

    def _user_backward(self):
        return self._custom[1]

    def _set_user_backward(self, fn):
        self._custom[1] = fn

    def _step(self):
        """Push this node's gradient into its children (one step of backward)."""
        if not self._children:
            return
        g = self._grad
        if self._opcode == CUSTOM:      # microgpt's step: child.grad += local_grad * v.grad
            for child, d in zip(self._children, self._custom):
                child._grad += d * g
            return
        if self._opcode == HOOK:
            fn = self._custom[1]
            if fn is not None:
                fn()
            return
        values = tuple([k._data for k in self._children])
        for child, d in zip(self._children, local_derivatives(self._opcode, values, self._data)):
            if d is not None:
                child._grad += d * g

    def backward(self, create_graph=False):
        """micrograd's backward: order the graph so that every node comes
        after its children, then, root first, let each node push its
        gradient into its children. create_graph=True also leaves each
        leaf's gradient as a Value in `grad_value` (see pygrad.grad)."""
        if getattr(self, "_no_graph", False):
            raise error(ENOGRAPH, "backward")
        if create_graph:
            from .functional import backward_graph
            return backward_graph(self)
        with BACKWARD_LOCK:   # one sweep at a time, as the C core's GIL-held call
            topo = topological_order(self)
            self._grad = 1.0
            for node in reversed(topo):
                node._step()


Value._leaf = Value   # detach()'s leaf


def topological_order(root):
    """micrograd's build_topo: a depth-first search from root, children in
    order, listing each node after all of its children. It keeps its own
    stack (a node and its children still to visit) instead of recursing, so
    a graph a million nodes deep is fine; the order is the recursive one,
    which is also the C core's, so both engines add gradients in the same
    order. Leaves have nothing to push back and are left out."""
    topo, visited = [], {root}
    stack = [(root, iter(root._children))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in visited:
                visited.add(child)
                stack.append((child, iter(child._children)))
                break
        else:                 # every child listed: the node comes next
            stack.pop()
            topo.append(node)
    return [node for node in topo if node._children]
