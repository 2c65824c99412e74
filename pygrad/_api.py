"""What both engines' `Value` share: the operator plumbing, the tutorial's
names, micrograd's introspection (`_prev`, `_op`) and input checking.

An engine subclasses `ValueBase` and supplies five things: `_make_binary`,
`_make_unary` (which build the operator methods from the op table in
_ops.py), `_code()` (its op code), `_kids()` (its children, in order) and
the `data`/`grad` properties. Everything else is written here once.
"""
import numbers

from . import _ops


# Types seen to be real numbers: a set lookup is much cheaper than the
# isinstance check against the numbers.Real ABC (numpy scalars take that path).
_REAL_TYPES = {float, int, bool}


def number_or_none(x):
    """A Python float from an int, float, bool or numpy real scalar, or None
    for anything else (so an operator can return NotImplemented)."""
    if type(x) is float:
        return x
    if type(x) in _REAL_TYPES:
        return float(x)
    if isinstance(x, numbers.Real):   # int, bool, Fraction, numpy integer/floating
        _REAL_TYPES.add(type(x))
        return float(x)
    return None


def as_float(x):
    """Like number_or_none, but a TypeError for anything that is not a real number."""
    f = number_or_none(x)
    if f is None:
        raise TypeError(f"pygrad Values hold real numbers, not {type(x).__name__}: {x!r}")
    return f


def check_leaf_args(_children, _op):
    if _children or _op:
        raise TypeError("pygrad builds op nodes itself: Value() takes only data "
                        "(micrograd-style custom ops with _children/_op are not supported)")


def _named_method(name, operator):
    """The tutorial's `x.plus(y)` for `x + y`: called as a method, an operator's
    NotImplemented must become the TypeError that `x + y` would raise."""
    def method(self, other):
        out = operator(self, other)
        if out is NotImplemented:
            raise TypeError(f"unsupported operand type for {name}(): {type(other).__name__!r}")
        return out
    method.__name__ = name
    return method


def _rebuild(cls, data, grad):
    """Unpickle a Value: a leaf with its data and grad."""
    v = cls(data)
    v.grad = grad
    return v


class ValueBase:
    __slots__ = ()
    # numpy scalars on the left (np.float64(2) * v) defer to our reflected ops.
    __array_ufunc__ = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for stem, (op, const_op) in _ops.BINARY.items():
            setattr(cls, f"__{stem}__", cls._make_binary(op, const_op, reflected=False))
            setattr(cls, f"__r{stem}__", cls._make_binary(op, op, reflected=True))
        for name, op in _ops.UNARY.items():
            setattr(cls, name, cls._make_unary(op))
        for alias, target in _ops.ALIASES.items():
            setattr(cls, alias, _named_method(alias, getattr(cls, target)))

    # The tutorial keeps the gradient in `value`.
    @property
    def value(self):
        return self.grad

    @value.setter
    def value(self, g):
        self.grad = g

    @property
    def _prev(self):
        """The set of child Values, as micrograd keeps it (a constant exponent is not a child)."""
        kids = self._kids()
        return set(kids[:1] if self._code() == _ops.POWK else kids)

    @property
    def _op(self):
        code = self._code()
        return _ops.label(code, self._kids()[1].data if code == _ops.POWK else None)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    # pickle, copy and deepcopy keep data and grad, not the graph below.
    def __reduce__(self):
        return (_rebuild, (type(self), self.data, self.grad))
