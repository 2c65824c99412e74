"""What both engines' `Value` share: the operator plumbing, the tutorial's
names, micrograd's introspection (`_prev`, `_op`) and input checking.

An engine subclasses `ValueBase` and supplies five things: `_make_binary`,
`_make_unary` (which build the operator methods from the op table in
_ops.py), `_code()` (its op code), `_kids()` (its children, in order) and
the `data`/`grad` properties. Everything else is written here once.
"""
import numbers
from typing import TYPE_CHECKING, Any, Callable, Optional, Set, SupportsFloat, Tuple, TypeVar, Union, cast

from . import _ops

if TYPE_CHECKING:
    import numpy

    Number = Union[int, float, "numpy.integer[Any]", "numpy.floating[Any]"]
_V = TypeVar("_V", bound="ValueBase")


# Types seen to be real numbers: a set lookup is much cheaper than the
# isinstance check against the numbers.Real ABC (numpy scalars take that path).
_REAL_TYPES = {float, int, bool}


def number_or_none(x: object) -> Optional[float]:
    """A Python float from an int, float, bool or numpy real scalar, or None
    for anything else (so an operator can return NotImplemented)."""
    if type(x) is float:
        return x
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
    """v itself if it is a `cls` Value, else a new `cls` leaf holding the number v."""
    if type(v) is cls:
        return v
    if isinstance(v, ValueBase):
        raise mixed_engines(cls, type(v))
    return cls(v)


def check_leaf_args(_children: Tuple[Any, ...], _op: str) -> None:
    if _children or _op:
        raise TypeError("pygrad builds op nodes itself: Value() takes only data "
                        "(micrograd-style custom ops with _children/_op are not supported)")


def _named_method(name: str, operator: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The tutorial's `x.plus(y)` for `x + y`: called as a method, an operator's
    NotImplemented must become the TypeError that `x + y` would raise."""
    def method(self: Any, other: Any) -> Any:
        out = operator(self, other)
        if out is NotImplemented:
            raise TypeError(f"unsupported operand type for {name}(): {type(other).__name__!r}")
        return out
    return method


def _rebuild(cls: Any, data: float, grad: float) -> Any:
    """Unpickle a Value: a leaf with its data and grad."""
    v = cls(data)
    v.grad = grad
    return v


class ValueBase:
    __slots__ = ()
    # numpy scalars on the left (np.float64(2) * v) defer to our reflected ops.
    __array_ufunc__ = None

    if TYPE_CHECKING:
        # The operators are made by __init_subclass__ from the op table; these
        # declarations tell type checkers what they take and give.
        @property
        def data(self) -> float: ...
        @data.setter
        def data(self, x: "Number") -> None: ...
        @property
        def grad(self) -> float: ...
        @grad.setter
        def grad(self, g: "Number") -> None: ...

        _make_binary: Callable[..., Callable[..., Any]]
        _make_unary: Callable[..., Callable[..., Any]]

        def __init__(self, data: "Number", _children: Tuple[Any, ...] = (), _op: str = "") -> None: ...
        def __add__(self: _V, other: "Union[_V, Number]") -> _V: ...
        def __radd__(self: _V, other: "Number") -> _V: ...
        def __sub__(self: _V, other: "Union[_V, Number]") -> _V: ...
        def __rsub__(self: _V, other: "Number") -> _V: ...
        def __mul__(self: _V, other: "Union[_V, Number]") -> _V: ...
        def __rmul__(self: _V, other: "Number") -> _V: ...
        def __truediv__(self: _V, other: "Union[_V, Number]") -> _V: ...
        def __rtruediv__(self: _V, other: "Number") -> _V: ...
        def __pow__(self: _V, other: "Union[_V, Number]") -> _V: ...
        def __rpow__(self: _V, other: "Number") -> _V: ...
        def __neg__(self: _V) -> _V: ...
        def relu(self: _V) -> _V: ...
        def tanh(self: _V) -> _V: ...
        def exp(self: _V) -> _V: ...
        def log(self: _V) -> _V: ...
        def sigmoid(self: _V) -> _V: ...
        def __abs__(self: _V) -> _V: ...
        def plus(self: _V, other: "Union[_V, Number]") -> _V: ...
        def times(self: _V, other: "Union[_V, Number]") -> _V: ...
        def minus(self: _V, other: "Union[_V, Number]") -> _V: ...
        def divide(self: _V, other: "Union[_V, Number]") -> _V: ...
        def pow(self: _V, other: "Union[_V, Number]") -> _V: ...
        def backward(self) -> None: ...
        def _backward(self) -> None: ...
        def _code(self) -> int: ...
        def _kids(self: _V) -> Tuple[_V, ...]: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        def install(name, method, doc):
            method.__name__ = method.__qualname__ = name
            method.__doc__ = doc
            setattr(cls, name, method)

        for stem, (op, const_op) in _ops.BINARY.items():
            sym = _ops.SYMBOLS[stem]
            install(f"__{stem}__", cls._make_binary(op, const_op, reflected=False), f"x {sym} other")
            install(f"__r{stem}__", cls._make_binary(op, op, reflected=True), f"other {sym} x")
        for name, op in _ops.UNARY.items():
            install(name, cls._make_unary(op), _ops.UNARY_DOCS[name])
        for alias, target in _ops.ALIASES.items():
            install(alias, _named_method(alias, getattr(cls, target)), f"The tutorial's name for {target}: "
                    + (getattr(cls, target).__doc__ or ""))

    # The tutorial keeps the gradient in `value`.
    @property
    def value(self) -> float:
        """The tutorial's name for the gradient."""
        return self.grad

    @value.setter
    def value(self, g: float) -> None:
        self.grad = g

    @property
    def _prev(self: _V) -> Set[_V]:
        """The set of child Values, as micrograd keeps it (a constant exponent is not a child)."""
        kids = self._kids()
        return set(kids[:1] if self._code() == _ops.POWK else kids)

    @property
    def _op(self) -> str:
        code = self._code()
        return _ops.label(code, self._kids()[1].data if code == _ops.POWK else None)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # pickle, copy and deepcopy keep data and grad, not the graph below.
    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (type(self), self.data, self.grad))
