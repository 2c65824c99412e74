"""What `compile_fn` sees while it traces a function.

A traced function runs once on Values; its graph becomes a program that
later calls replay with other numbers. Two things in the function can make
the replay differ from running it again, and both are caught here:

- a Python decision on a traced Value (`if x > 0`, `max(a, b)`, `sorted`):
  the comparison is recorded as a guard with the outcome seen. The program
  checks every guard on every row (in C on the C engine) and a row that
  comes out otherwise runs through a program traced for its outcomes.
- a numeric read (`x.data`, `float(x)`, `x.item()`, `format(x)`, `math.f(x)`):
  the number is frozen into the program and nothing can check it, so it is
  reported at trace time with the file and line of the read (a
  TracerWarning, or a TracerError under `strict=True`).

A user's op in microgpt's form, `Value(data, children, local_grads)`, is
recorded too: its program recomputes the op from Values, its data and its
local gradients (see `Trace.custom`). `x.data` read by the function is a
`TracedFloat`, a float that carries a Value computing it through
`+ - * / **`, so that `Value(x.data ** 2, (x,), (2 * x,))` compiles, and a
comparison of it (`if x.data > 0`) is a guard on that Value.

While any thread traces, the engine's Value class carries recording
versions of the comparisons and of `data` (put back when the last trace
ends), so eager code pays nothing for this when no trace runs.
"""
import operator
import os
import struct
import sys
import threading
import warnings
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from ._api import ValueBase, mixed_engines, number_or_none

__all__ = ["TracerWarning", "TracerError"]

LT, LE, GT, GE = range(4)             # csrc/program.h's enum pg_cmp
_SYMBOL = ("<", "<=", ">", ">=")
_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep
# pygrad's own functions whose reading of `data` is a numeric read by their caller.
_READERS = frozenset(("__float__", "item", "__format__", "__repr__", "__str__"))


class TracerWarning(UserWarning):
    """A traced function read the number inside a traced Value: the program
    keeps the number seen at trace time (as torch.jit.trace's warning)."""


class TracerError(RuntimeError):
    """A traced function did something its program could not replay
    faithfully (a numeric read under strict=True, no_grad inside it, a result
    that depends on no input, or a decision with too many outcomes)."""


class GuardFailed(Exception):
    """Internal: row `row` of a run came out otherwise at guard `guard`."""

    def __init__(self, row: int, guard: int) -> None:
        super().__init__(row, guard)
        self.row, self.guard = row, guard


class Guard(NamedTuple):
    cmp: int              # LT, LE, GT, GE
    a: Any                # a Value
    b: Any                # a Value, or None: then the number c
    c: float
    outcome: bool         # what `a cmp b` gave at trace time
    site: str             # "file:line" of the decision

    def describe(self) -> str:
        return f"{self.site}: a comparison `{_SYMBOL[self.cmp]}` on a traced Value"


def _user_frame(depth: int) -> Any:
    """The first frame outside pygrad, from `depth` frames up."""
    f: Any = sys._getframe(depth + 1)
    while f is not None and f.f_code.co_filename.startswith(_PKG):
        f = f.f_back
    return f


def _site(frame: Any) -> Tuple[str, int]:
    return (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("<unknown>", 0)


def _same_bits(a: float, b: float) -> bool:
    return struct.pack("<d", a) == struct.pack("<d", b)


class Custom(NamedTuple):
    """A user's op made during a trace, as its program recomputes it."""
    node: Any             # the op node (held: its id stays its own until compiled)
    data: Any             # a Value whose value is the op's value
    local_grads: Tuple[Any, ...]   # Values: d node / d child, per child


class Trace:
    """One traced call: its guards, its users' ops, and whether numeric reads are errors."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.guards: List[Guard] = []
        self.customs: List[Custom] = []
        self.refused: Dict[int, str] = {}   # a node's key (its id) -> why its op cannot compile
        self.reads = 0                      # the user's numeric reads so far

    def custom(self, node: Any, key: int, data: Any, local_grads: Any) -> None:
        """Record the op node `node` (key: its node id on the C engine, else
        id(node)), made as Value(data, children, local_grads)
        (local_grads None: micrograd's form, with a Python `_backward`).
        It compiles when every local gradient is a Value and its data is a
        Value, a TracedFloat, or a number when nothing was read yet (a
        constant); otherwise compile refuses it, saying why."""
        V = _engine_of(node)
        for x in [data, *(local_grads or ())]:
            if isinstance(x, ValueBase) and not isinstance(x, V):
                raise mixed_engines(V, type(x))
        why = _why_not(local_grads, data, self.reads)
        if why:
            self.refused[key] = why
            return
        if isinstance(data, ValueBase):
            value = data
        elif isinstance(data, TracedFloat):
            value = data.shadow
        else:
            value = V(data)
        self.customs.append(Custom(node, value, tuple(local_grads)))

    def decide(self, cmp: int, a: Any, b: Any, outcome: bool) -> None:
        # Every Value can change between calls: inputs and params, and also
        # the constants the program reads live at each run (a leaf the user
        # holds and edits). So every comparison of a Value is a guard.
        from ._api import ValueBase
        b_value = isinstance(b, ValueBase)
        file, line = _site(_user_frame(2))
        c = 0.0 if b_value else number_or_none(b)
        self.guards.append(Guard(cmp, a, b if b_value else None, c or 0.0, bool(outcome), f"{file}:{line}"))

    def read(self, v: Any, depth: int) -> bool:
        """Report a read of v's number; False if pygrad itself read it."""
        caller = sys._getframe(depth + 1)
        if caller.f_code.co_filename.startswith(_PKG) and caller.f_code.co_name not in _READERS:
            return False   # pygrad's own bookkeeping, not the user's decision
        self.reads += 1
        file, line = _site(_user_frame(depth + 1))
        text = (f"{file}:{line}: the traced function reads the number inside a traced Value "
                "(.data, float(), item(), format() or a math function): the compiled program keeps the "
                "number seen now and will not recompute it. Keep the computation in Values (a comparison "
                "such as `x > 0` is recorded and checked on every call; pygrad.select and max_data choose "
                "in the graph), or pass the number as a static= keyword")
        if self.strict:
            raise TracerError(text)
        warnings.warn_explicit(text, TracerWarning, file, line)
        return True


def _engine_of(node: Any) -> type:
    """The engine's Value class that node is (or subclasses)."""
    for klass in type(node).__mro__:
        if klass.__name__ == "Value" and klass.__module__ in ("pygrad.cengine", "pygrad.reference"):
            return klass
    return type(node)


def _why_not(local_grads: Any, data: Any, reads: int) -> str:
    """Why a user's op made in a trace cannot compile, or ''."""
    if local_grads is None:
        return ("its gradient is a Python `_backward`, which a program cannot run: write the op in "
                "microgpt's form, Value(data, children, local_grads), with Values as local_grads")
    if not all(isinstance(g, ValueBase) for g in local_grads):
        return ("its local gradients are numbers (computed from .data, which a program cannot "
                "recompute): give each as a Value built with pygrad's operators, e.g. "
                "Value(t.data, (x,), (1 - t**2,)) with t = x.tanh()")
    if isinstance(data, ValueBase) or (isinstance(data, TracedFloat) and data.shadow is not None) or not reads:
        return ""
    return ("its data is a number computed from .data outside + - * / ** (a math function, say), which a "
            "program cannot recompute: give data as a Value (e.g. x.tanh() for math.tanh(x.data)) or as "
            "x.data arithmetic")


# -- numbers read from traced Values ------------------------------------------

def _shadow_of(x: Any) -> Any:
    """What computes x: a TracedFloat's Value, or x itself (a plain number)."""
    if isinstance(x, TracedFloat):
        return x.shadow
    return x if type(x) in (float, int) else None


class TracedFloat(float):
    """A number the traced function read (`x.data`): a float, as eager gives,
    that also carries a Value computing it (`shadow`) while it only goes
    through + - * / ** and unary minus with numbers. A user's op whose data is
    one compiles (Trace.custom). Anything else (math.tanh, int(), a
    comparison) gets the float: the read was reported."""

    __slots__ = ("shadow",)
    shadow: Any

    def __reduce__(self) -> Any:
        return float, (float(self),)

    def __neg__(self) -> Any:
        result = float.__neg__(self)
        return result if self.shadow is None else _traced(result, -self.shadow)

    def __pos__(self) -> Any:
        return self


def _traced(result: float, shadow: Any) -> Any:
    out = TracedFloat(result)
    # The program computes shadow; keep it only where it gives eager's very bits.
    out.shadow = shadow if shadow is not None and _same_bits(result, shadow.data) else None
    return out


def _traced_binary(op: Any, name: str) -> Any:
    reflected = name.startswith("__r")

    def method(self: TracedFloat, other: Any) -> Any:
        result = getattr(float, name)(self, other)
        a, b = self.shadow, _shadow_of(other)
        if type(result) is not float or a is None or b is None:
            return result
        try:   # a number and a Value meet through the Value's (reflected) operator
            shadow = op(b, a) if reflected else op(a, b)
        except (ArithmeticError, ValueError):
            return result
        return _traced(result, shadow)
    method.__name__ = name
    return method


for _name, _op in (("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("pow", operator.pow)):
    setattr(TracedFloat, f"__{_name}__", _traced_binary(_op, f"__{_name}__"))
    setattr(TracedFloat, f"__r{_name}__", _traced_binary(_op, f"__r{_name}__"))


def _traced_compare(cmp: int, name: str) -> Any:
    """A comparison of a TracedFloat is a decision on the Value it carries:
    recorded as a guard (as `x > 0` on the Value itself would be)."""
    def compare(self: TracedFloat, other: Any) -> Any:
        outcome = getattr(float, name)(self, other)
        b = _shadow_of(other)
        trace = current()
        if outcome is not NotImplemented and self.shadow is not None and b is not None and trace is not None:
            trace.decide(cmp, self.shadow, b, outcome)
        return outcome
    compare.__name__ = name
    return compare


for _name, _cmp in (("__lt__", LT), ("__le__", LE), ("__gt__", GT), ("__ge__", GE)):
    setattr(TracedFloat, _name, _traced_compare(_cmp, _name))




_local = threading.local()
_lock = threading.Lock()
_patched: Dict[type, Tuple[int, Dict[str, Any]]] = {}   # class -> (traces running, saved attributes)


def current() -> Optional[Trace]:
    """The trace this thread is running, if any."""
    return getattr(_local, "trace", None)


def _lookup(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise AttributeError(name)


def _recording_data(original: Any) -> property:
    def read(self: Any) -> float:
        x = original.__get__(self, type(self))
        trace = current()
        if trace is not None and trace.read(self, 1) and _user_frame(1) is sys._getframe(1):
            return _traced(x, self)   # read by the user's own code
        return x

    def write(self: Any, x: Any) -> None:
        original.__set__(self, x)
    return property(read, write, doc=original.__doc__)


def _recording_compare(cmp: int, original: Any) -> Any:
    def compare(self: Any, other: Any) -> Any:
        trace = current()
        if trace is None:
            return original(self, other)
        _local.trace = None                  # its own read of data is not the user's
        try:
            outcome = original(self, other)
        finally:
            _local.trace = trace
        if outcome is not NotImplemented:
            trace.decide(cmp, self, other, outcome)
        return outcome
    compare.__name__ = original.__name__
    return compare


_COMPARISONS = (("__lt__", LT), ("__le__", LE), ("__gt__", GT), ("__ge__", GE))


def _patch(V: type) -> Dict[str, Any]:
    saved = {name: V.__dict__.get(name) for name in ["data"] + [n for n, _ in _COMPARISONS]}
    V.data = _recording_data(_lookup(V, "data"))  # type: ignore[attr-defined]
    for name, cmp in _COMPARISONS:
        setattr(V, name, _recording_compare(cmp, _lookup(V, name)))
    return saved


def _unpatch(V: type, saved: Dict[str, Any]) -> None:
    for name, attr in saved.items():
        if attr is None:
            delattr(V, name)
        else:
            setattr(V, name, attr)


class tracing:
    """`with tracing(V, trace):` runs the traced function with `trace` recording."""

    def __init__(self, V: type, trace: Trace) -> None:
        self.V, self.trace = V, trace

    def __enter__(self) -> Trace:
        with _lock:
            count, saved = _patched.get(self.V, (0, {}))
            if count == 0:
                saved = _patch(self.V)
            _patched[self.V] = (count + 1, saved)
        self.outer = current()
        _local.trace = self.trace
        return self.trace

    def __exit__(self, *exc: object) -> None:
        _local.trace = self.outer
        with _lock:
            count, saved = _patched[self.V]
            if count == 1:
                del _patched[self.V]
                _unpatch(self.V, saved)
            else:
                _patched[self.V] = (count - 1, saved)


def refuse_no_grad() -> None:
    """Called when a thread turns graph building off: not inside a trace."""
    if current() is not None:
        file, line = _site(_user_frame(2))
        raise TracerError(f"{file}:{line}: no_grad inside a function being compiled: what it computes "
                          "would become constants of the program, frozen at their first values. "
                          "Compute it outside the compiled function, or in Values with grad on")


def iter_sides(guards: List[Guard]) -> Iterator[Any]:
    """Every Value a list of guards compares."""
    for g in guards:
        yield g.a
        if g.b is not None:
            yield g.b
