"""What both engines' `Value` share, written once: the operators, micrograd's
introspection (`_prev`, `_op`, `label`), the conveniences (float(), format,
ordering) and input checking.

Each operator is a plain method that names its op and hands it to the
engine through one of three hooks, which each engine's `Value` supplies:

    _binary_op(op, kop, other)   self <op> other; kop is the op used when other is a number
    _reflected_op(op, other)     other <op> self, other a number
    _unary_op(op)                <op>(self)

An engine also supplies `data`, `grad`, `_opcode` (the op code, an int),
`_children` (the operands in order, as Values; micrograd's `_prev` is the
set of them), `backward` and `_step` (one node's step of backward; a
user's op in micrograd's form keeps its `_backward` through
`_user_backward`/`_set_user_backward`, and its op string as `_user_op`).

The reference engine uses these methods as they are. The C engine replaces
each with a copy that has its op code bound and calls C directly
(cengine._install_operators): the extra Python call through a hook costs
about 7% of an op there. The docstrings and types stay these.
"""
import copyreg
import inspect
import numbers
import types
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    List,
    Optional,
    Sequence,
    Set,
    SupportsFloat,
    Tuple,
    Union,
    cast,
)

from . import _ops

# Op codes, by name (the rows of _ops.TABLE, in csrc/ops.def's order).
ADD, SUB, MUL, DIV, POW, POWK, NEG, RELU, TANH, EXP, LOG, SIGMOID, ABS, SQRT, SIN, COS = (
    _ops.CODES[name] for name in
    ("add", "sub", "mul", "div", "pow", "powk", "neg", "relu", "tanh", "exp", "log", "sigmoid", "abs",
     "sqrt", "sin", "cos"))
HOOK, LEAF = _ops.HOOK, _ops.LEAF

# What an operator takes: a Value of the same engine or a real number
# (int, float, bool, numpy real scalars).
Operand = Union["ValueBase", float]

# Types seen to be real numbers: a set lookup is much cheaper than the
# isinstance check against the numbers.Real ABC (numpy scalars take that path).
_REAL_TYPES = {float, int, bool}


def number_or_none(x: object) -> Optional[float]:
    """A Python float from an int, float, bool or numpy real scalar, or None
    for anything else (so an operator can return NotImplemented)."""
    if type(x) is float:
        return x
    if type(x) is int or type(x) is bool:   # exact types first: no typing call at run time
        return float(x)
    if type(x) in _REAL_TYPES:
        return float(cast(SupportsFloat, x))
    if isinstance(x, numbers.Real):   # int, bool, Fraction, numpy integer/floating
        _REAL_TYPES.add(type(x))
        return float(x)
    return None


def as_float(x: object) -> float:
    """Like number_or_none, but a TypeError for anything that is not a real number."""
    f = number_or_none(x)
    if f is None:
        raise TypeError(f"pygrad Values hold real numbers, not {type(x).__name__}: {x!r}")
    return f


def mixed_engines(a: type, b: type) -> TypeError:
    """The error for combining Values of two different engines (a, b: their classes)."""
    return TypeError(f"cannot combine a {a.__module__}.Value with a {b.__module__}.Value: "
                     "a graph lives in one engine")


def as_value(cls: Any, v: Any) -> Any:
    """v itself if it is a `cls` Value (or a subclass's), else a new `cls`
    leaf holding the number v."""
    if isinstance(v, cls):
        return v
    if isinstance(v, ValueBase):
        raise mixed_engines(cls, type(v))
    return cls(v)


def op_data(data: Any) -> float:
    """A user's op's value: a number, or a Value's number (a Value as data
    lets a compiled program recompute the op: see compile_fn)."""
    return data.data if isinstance(data, ValueBase) else as_float(data)


def node_args(cls: Any, children: Any, local_grads: Any, _children: Any, _op: Any
              ) -> Tuple[Tuple[Any, ...], Optional[Tuple[float, ...]], str, Any]:
    """What Value(data, ...) was asked to make, as (children, local grads,
    op, the local grads as given: numbers or Values):

    - microgpt's form, Value(data, children, local_grads): local grads are
      numbers, or Values whose data is taken now (microgpt's are floats);
    - micrograd's form, Value(data, _children, _op): local grads None (the
      node's gradient comes from the `_backward` the user assigns);
    - a leaf: no children.

    `children`/`local_grads` are also micrograd's positional `_children` and
    `_op` (a str there): the two forms differ by what the third argument is."""
    if _children and children:
        raise TypeError("Value() takes children once: as `children` or as `_children`")
    if isinstance(local_grads, str):
        _op, local_grads = local_grads, None
    if not isinstance(_op, str):
        raise TypeError(f"Value(): the op name (_op) is a str, not {type(_op).__name__}")
    kids = tuple(children or _children)
    for k in kids:
        if not isinstance(k, cls):
            if isinstance(k, ValueBase):
                raise mixed_engines(cls, type(k))
            raise TypeError(f"Value(): children are Values, not {type(k).__name__}: {k!r}")
    if local_grads is None:
        return kids, None, _op, None
    grads = tuple(local_grads)
    if len(grads) != len(kids):
        raise ValueError(f"Value(): {len(kids)} children but {len(grads)} local_grads (one per child)")
    return kids, tuple(g.data if isinstance(g, ValueBase) else as_float(g) for g in grads), _op, grads


def _rebuild(cls: Any, data: float, grad: float, label: str = "") -> Any:
    """Load a pickle of pygrad's first format: a leaf with its data, grad and
    label (its other attributes follow, as a dict for __setstate__)."""
    v = copyreg.__newobj__(cls, data)  # type: ignore[attr-defined]  # (not in typeshed)
    v.__setstate__((data, grad, label, None, None))
    return v


# Bumped whenever some Value's requires_grad changes, so an optimizer
# re-reads its parameters' flags only then: a step costs no Python per
# parameter while nothing is frozen or thawed.
freeze_epoch = [0]


def _user_slots(cls: type) -> List[str]:
    """The attributes that classes outside pygrad declare in __slots__ (a
    subclass's own; pygrad's engines keep theirs), as stored: private
    names come mangled."""
    return [name for k in cls.__mro__ if k.__module__.split(".")[0] != "pygrad"
            for name, attr in vars(k).items() if type(attr) is types.MemberDescriptorType]


def _must(out: Any, name: str, other: object) -> Any:
    """The tutorial's `x.plus(y)`: called as a method, an operator's
    NotImplemented becomes the TypeError that `x + y` would raise."""
    if out is NotImplemented:
        raise TypeError(f"unsupported operand type for {name}(): {type(other).__name__!r}")
    return out


class ValueBase:
    """`Value(data, *, label='')`: a number that records how it was computed.

    Arithmetic on Values (`+ - * / **`, `relu()`, `tanh()`, `exp()`,
    `log()`, `sigmoid()`, `abs()`), with numbers on either side, gives new
    Values and builds a graph; `out.backward()` then sets `.grad` of every
    Value below `out` to d out / d value. `data` and `grad` are floats and
    may be assigned (an optimizer step: `p.data -= lr * p.grad`).

    `data` is an int, float or numpy real scalar (stored as float); `label`
    is an optional name shown by `pygrad.to_dot` / `pygrad.draw`.

        >>> x = Value(2.0, label="x")
        >>> y = 3 * x**2 - 4 * x + 5
        >>> y.backward()
        >>> x.grad
        8.0

    Both engines' `Value` classes derive from this one and behave the same.
    """

    __slots__ = ()
    if not TYPE_CHECKING:
        # What help(Value) and inspect.signature(Value) show: a leaf is
        # Value(data); a user's op is microgpt's Value(data, children,
        # local_grads) or micrograd's Value(data, children, op) (op a
        # string, in local_grads' place), with _backward assigned after.
        __signature__ = inspect.Signature([
            inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("children", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=()),
            inspect.Parameter("local_grads", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
            inspect.Parameter("label", inspect.Parameter.KEYWORD_ONLY, default=""),
        ])
    # numpy scalars on the left (np.float64(2) * v) defer to our reflected ops.
    __array_ufunc__ = None
    if not TYPE_CHECKING:
        # The micrograd lecture's name for a Value, shown by to_dot/draw
        # (typed as a property below; the C engine's is one).
        label = ""

    if TYPE_CHECKING:   # what every engine supplies
        def __init__(self, data: float, children: Sequence[Any] = (), local_grads: Any = None, label: str = "",
                     *, _children: Sequence[Any] = (), _op: str = "") -> None: ...
        @property
        def label(self) -> str:
            """A name for `pygrad.to_dot` / `pygrad.draw` (micrograd lecture's `label`); '' if none."""
        @label.setter
        def label(self, text: str) -> None: ...
        @property
        def data(self) -> float:
            """The value, a float; assignable (`p.data -= lr * p.grad`)."""
        @data.setter
        def data(self, x: float) -> None: ...
        @property
        def grad(self) -> float:
            """d(root)/d(this Value) after `root.backward()`; 0.0 until then; assignable."""
        @grad.setter
        def grad(self, g: float) -> None: ...
        _opcode: int                    # the op code (a row of _ops.TABLE); LEAF for a leaf
        _children: Tuple[Any, ...]      # the operands, in order
        def _binary_op(self, op: int, kop: int, other: object) -> Any: ...
        def _reflected_op(self, op: int, other: object) -> Any: ...
        def _unary_op(self, op: int) -> "ValueBase": ...
        def backward(self, create_graph: bool = False) -> None:
            """Set `grad` of every Value below this one to d(self)/d(that Value).

            Gradients add up: call `zero_grad()` (or set `grad = 0.0`)
            between steps, as in micrograd. create_graph=True also leaves
            each leaf's gradient as a Value in `grad_value`."""
        def _step(self) -> None: ...                       # this node's step of backward
        def _user_backward(self) -> Optional[Callable[[], None]]: ...  # a HOOK node's _backward
        def _set_user_backward(self, fn: Callable[[], None]) -> None: ...
        @property
        def _user_op(self) -> str: ...  # a HOOK node's op string
        _leaf: Callable[[float], "ValueBase"]   # the engine's leaf maker (detach())
        @staticmethod
        def sum(values: Iterable[Operand]) -> "ValueBase":
            """One node for values[0] + values[1] + ..., added left to right (as `pygrad.sum`)."""
        @staticmethod
        def dot(ws: Sequence[Operand], xs: Sequence[Operand], b: Operand) -> "ValueBase":
            """One node for `b + ws[0]*xs[0] + ws[1]*xs[1] + ...`, added left to right (as `pygrad.dot`)."""
        @staticmethod
        def dense(rows: Sequence[Sequence[Operand]], biases: Sequence[Operand]
                  ) -> Callable[..., List["ValueBase"]]:
            """A fused dense layer: `layer = Value.dense(rows, biases)`, then `layer(xs, relu)`
            gives b + w . xs (relu'd if relu is true) for each row of weights, as a list of Values."""

    # -- operators: one line each --------------------------------------------

    def __add__(self, other: Operand) -> "ValueBase":
        """self + other"""
        return self._binary_op(ADD, ADD, other)

    def __radd__(self, other: float) -> "ValueBase":
        """other + self"""
        return self._reflected_op(ADD, other)

    def __sub__(self, other: Operand) -> "ValueBase":
        """self - other"""
        return self._binary_op(SUB, SUB, other)

    def __rsub__(self, other: float) -> "ValueBase":
        """other - self"""
        return self._reflected_op(SUB, other)

    def __mul__(self, other: Operand) -> "ValueBase":
        """self * other"""
        return self._binary_op(MUL, MUL, other)

    def __rmul__(self, other: float) -> "ValueBase":
        """other * self"""
        return self._reflected_op(MUL, other)

    def __truediv__(self, other: Operand) -> "ValueBase":
        """self / other"""
        return self._binary_op(DIV, DIV, other)

    def __rtruediv__(self, other: float) -> "ValueBase":
        """other / self"""
        return self._reflected_op(DIV, other)

    def __pow__(self, other: Operand) -> "ValueBase":
        """self ** other; a number exponent stays a constant (micrograd's `x ** 2`)"""
        return self._binary_op(POW, POWK, other)

    def __rpow__(self, other: float) -> "ValueBase":
        """other ** self"""
        return self._reflected_op(POW, other)

    def __neg__(self) -> "ValueBase":
        """-self"""
        return self._unary_op(NEG)

    def __abs__(self) -> "ValueBase":
        """abs(self) = |self|; its gradient is sign(self), 0 at 0 (as PyTorch's)"""
        return self._unary_op(ABS)

    def relu(self) -> "ValueBase":
        """max(0, self), as micrograd's ReLU (gradient 0 at 0)"""
        return self._unary_op(RELU)

    def tanh(self) -> "ValueBase":
        """tanh(self)"""
        return self._unary_op(TANH)

    def exp(self) -> "ValueBase":
        """e ** self; OverflowError where Python's math.exp overflows"""
        return self._unary_op(EXP)

    def log(self) -> "ValueBase":
        """The natural logarithm; ValueError for self <= 0"""
        return self._unary_op(LOG)

    def sigmoid(self) -> "ValueBase":
        """1 / (1 + e ** -self), computed so that it never overflows"""
        return self._unary_op(SIGMOID)

    def sqrt(self) -> "ValueBase":
        """The square root; ValueError for self < 0"""
        return self._unary_op(SQRT)

    def sin(self) -> "ValueBase":
        """sin(self); ValueError for an infinite self, as math.sin"""
        return self._unary_op(SIN)

    def cos(self) -> "ValueBase":
        """cos(self); ValueError for an infinite self, as math.cos"""
        return self._unary_op(COS)

    def detach(self) -> "ValueBase":
        """A new leaf holding self's data: no gradient flows back through it (torch's detach)."""
        return self._leaf(self.data)

    # -- micrograd's `_backward` ----------------------------------------------

    @property
    def _backward(self) -> Callable[[], None]:
        """This node's step of backward: push its grad into its children.
        On a node made as Value(data, children, op), the function assigned
        to it, as in micrograd (none assigned: the node contributes nothing)."""
        fn = self._user_backward() if self._opcode == HOOK else None
        return fn if fn is not None else self._step

    @_backward.setter
    def _backward(self, fn: Callable[[], None]) -> None:
        if not callable(fn):
            raise TypeError(f"_backward must be callable, not {type(fn).__name__}")
        if self._opcode == HOOK:
            self._set_user_backward(fn)
        elif self._opcode != LEAF:   # a leaf (a user's op under no_grad too) has no children to push to
            raise TypeError("only a node made as Value(data, children, op) takes a _backward; "
                            f"this one's gradient rule is pygrad's ({self._op})")

    # The tutorial's method names for the operators.
    def plus(self, other: Operand) -> "ValueBase":
        """self + other"""
        return _must(self.__add__(other), "plus", other)

    def minus(self, other: Operand) -> "ValueBase":
        """self - other"""
        return _must(self.__sub__(other), "minus", other)

    def times(self, other: Operand) -> "ValueBase":
        """self * other"""
        return _must(self.__mul__(other), "times", other)

    def divide(self, other: Operand) -> "ValueBase":
        """self / other"""
        return _must(self.__truediv__(other), "divide", other)

    def pow(self, other: Operand) -> "ValueBase":
        """self ** other"""
        return _must(self.__pow__(other), "pow", other)

    # -- torch's freeze flag ----------------------------------------------------

    # the flag's default; a frozen Value has its own in its __dict__
    # (a class attribute: read as fast as any attribute)
    _requires_grad = True

    @property
    def requires_grad(self) -> bool:
        """torch's flag; False freezes a leaf Value: optimizers and
        clip_grad_norm_ skip it, and pygrad.compile reads it as a constant
        even if it is listed in params. backward() still sets its grad."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if type(flag) is not bool:
            raise TypeError(f"requires_grad must be True or False, not {type(flag).__name__}")
        if self._opcode != _ops.LEAF:
            raise ValueError("requires_grad can only be changed on a leaf Value (made with Value(x)), "
                             "not on an op's result")
        vars(self)["_requires_grad"] = flag   # (the subclasses have a __dict__)
        freeze_epoch[0] += 1

    # -- the number inside ----------------------------------------------------

    def __float__(self) -> float:
        return self.data

    def item(self) -> float:
        """The data, as torch's `tensor.item()`."""
        return self.data

    def __format__(self, spec: str) -> str:
        """f"{v:.3f}" formats the data; f"{v}" is str(v)."""
        return format(self.data, spec) if spec else str(self)

    # Ordering compares data (so max() and sorted() work); == and hash stay
    # identity, as in micrograd, so Values go in sets and dict keys.
    def __lt__(self, other: Operand) -> bool:
        o = _data_or_none(other)
        return NotImplemented if o is None else self.data < o

    def __le__(self, other: Operand) -> bool:
        o = _data_or_none(other)
        return NotImplemented if o is None else self.data <= o

    def __gt__(self, other: Operand) -> bool:
        o = _data_or_none(other)
        return NotImplemented if o is None else self.data > o

    def __ge__(self, other: Operand) -> bool:
        o = _data_or_none(other)
        return NotImplemented if o is None else self.data >= o

    @property
    def grad_value(self) -> Optional["ValueBase"]:
        """This leaf's gradient as a Value (differentiable again) after
        `root.backward(create_graph=True)`; None before."""
        return getattr(self, "_grad_value", None)

    # -- micrograd's and the tutorial's names ---------------------------------

    @property
    def value(self) -> float:
        """The tutorial's name for the gradient."""
        return self.grad

    @value.setter
    def value(self, g: float) -> None:
        self.grad = g

    @property
    def _prev(self) -> Set["ValueBase"]:
        """The set of child Values, as micrograd keeps it (a constant exponent
        is not a child). A child the user holds is the user's own object."""
        children = self._children
        return set(children[:1] if self._opcode == POWK else children)

    @property
    def _op(self) -> str:
        """micrograd's op string: '+', '*', '**2', 'tanh', ...; '' for a leaf."""
        code = self._opcode
        if code == HOOK:
            return self._user_op
        return _ops.label(code, self._children[1].data if code == POWK else None)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def _repr_html_(self) -> str:
        """How a notebook shows a Value: label, op, data and grad."""
        from ._show import value_html  # here, not at the top: _show builds on this module
        return value_html(self)

    # pickle, copy and deepcopy give a leaf with the data, the grad and the
    # user's attributes (label, __dict__, a subclass's __slots__), not the
    # graph below. As copyreg's default does, the copy is made by the
    # class's __new__ and then given its state: a subclass's __init__ is
    # not called again (it may take other arguments, or transform them).
    def __reduce__(self) -> Tuple[Any, ...]:
        return (copyreg.__newobj__, (type(self), self.data), self.__getstate__())  # type: ignore[attr-defined]

    def __getstate__(self) -> Tuple[Any, ...]:
        slots = {name: getattr(self, name) for name in _user_slots(type(self)) if hasattr(self, name)}
        return (self.data, self.grad, self.label, getattr(self, "__dict__", None) or None, slots or None)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):   # pygrad's first format: the attributes only (see _rebuild)
            self.__dict__.update(state)
            return
        data, grad, label, attrs, slots = state
        self._init_leaf(data)
        self.grad = grad
        if label:
            self.label = label
        if attrs:
            self.__dict__.update(attrs)
        for name, value in (slots or {}).items():
            setattr(self, name, value)

    def _init_leaf(self, data: float) -> None:
        """Make a Value that __new__ gave (not __init__) a leaf holding data.
        (The C engine's __new__ makes the leaf already.)"""
        self.data = data


def _data_or_none(x: object) -> Optional[float]:
    if isinstance(x, ValueBase):
        return x.data
    return number_or_none(x)
