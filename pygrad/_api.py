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
set of them) and `backward`/`_backward`.

The reference engine uses these methods as they are. The C engine replaces
each with a copy that has its op code bound and calls C directly
(cengine._install_operators): the extra Python call through a hook costs
about 7% of an op there. The docstrings and types stay these.
"""
import copyreg
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
ADD, SUB, MUL, DIV, POW, POWK, NEG, RELU, TANH, EXP, LOG, SIGMOID, ABS = (
    _ops.CODES[name] for name in
    ("add", "sub", "mul", "div", "pow", "powk", "neg", "relu", "tanh", "exp", "log", "sigmoid", "abs"))

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


def check_leaf_args(_children: Any, _op: Any) -> None:
    """micrograd's own ops pass `_children` and `_op` to Value(); pygrad makes
    op nodes itself, with their derivative in the engine. A user's node with
    children but no derivative rule would get zero gradients silently, so it
    is refused."""
    if _children or _op:
        raise TypeError("pygrad builds op nodes itself: Value() takes data and label only. "
                        "A micrograd-style custom op (Value(x, _children, _op) with its own _backward) "
                        "is not supported; write it from pygrad's ops (+ * ** exp log tanh relu ...)")


def _rebuild(cls: Any, data: float, grad: float, label: str = "") -> Any:
    """Load a pickle of pygrad's first format: a leaf with its data, grad and
    label (its other attributes follow, as a dict for __setstate__)."""
    v = copyreg.__newobj__(cls, data)  # type: ignore[attr-defined]  # (not in typeshed)
    v.__setstate__((data, grad, label, None, None))
    return v


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
    """A scalar and its gradient. Both engines' `Value` derive from this."""

    __slots__ = ()
    # numpy scalars on the left (np.float64(2) * v) defer to our reflected ops.
    __array_ufunc__ = None
    if not TYPE_CHECKING:
        # The micrograd lecture's name for a Value, shown by to_dot/draw
        # (typed as a property below; the C engine's is one).
        label = ""

    if TYPE_CHECKING:   # what every engine supplies
        def __init__(self, data: float, _children: Tuple[()] = (), _op: str = "", label: str = "") -> None: ...
        @property
        def label(self) -> str: ...
        @label.setter
        def label(self, text: str) -> None: ...
        @property
        def data(self) -> float: ...
        @data.setter
        def data(self, x: float) -> None: ...
        @property
        def grad(self) -> float: ...
        @grad.setter
        def grad(self, g: float) -> None: ...
        _opcode: int                    # the op code (a row of _ops.TABLE); LEAF for a leaf
        _children: Tuple[Any, ...]      # the operands, in order
        def _binary_op(self, op: int, kop: int, other: object) -> Any: ...
        def _reflected_op(self, op: int, other: object) -> Any: ...
        def _unary_op(self, op: int) -> "ValueBase": ...
        def backward(self) -> None: ...
        def _backward(self) -> None: ...
        @staticmethod
        def sum(values: Iterable[Operand]) -> "ValueBase": ...
        @staticmethod
        def dot(ws: Sequence[Operand], xs: Sequence[Operand], b: Operand) -> "ValueBase": ...
        @staticmethod
        def dense(rows: Sequence[Sequence[Operand]], biases: Sequence[Operand]
                  ) -> Callable[..., List["ValueBase"]]: ...

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
        return _ops.label(code, self._children[1].data if code == POWK else None)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

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
