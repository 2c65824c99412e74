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

While any thread traces, the engine's Value class carries recording
versions of the comparisons and of `data` (put back when the last trace
ends), so eager code pays nothing for this when no trace runs.
"""
import os
import sys
import threading
import warnings
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from ._api import number_or_none

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


class Trace:
    """One traced call: its guards, and whether numeric reads are errors."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.guards: List[Guard] = []

    def decide(self, cmp: int, a: Any, b: Any, outcome: bool) -> None:
        # Every Value can change between calls: inputs and params, and also
        # the constants the program reads live at each run (a leaf the user
        # holds and edits). So every comparison of a Value is a guard.
        from ._api import ValueBase
        b_value = isinstance(b, ValueBase)
        file, line = _site(_user_frame(2))
        c = 0.0 if b_value else number_or_none(b)
        self.guards.append(Guard(cmp, a, b if b_value else None, c or 0.0, bool(outcome), f"{file}:{line}"))

    def read(self, v: Any, depth: int) -> None:
        caller = sys._getframe(depth + 1)
        if caller.f_code.co_filename.startswith(_PKG) and caller.f_code.co_name not in _READERS:
            return   # pygrad's own bookkeeping, not the user's decision
        file, line = _site(_user_frame(depth + 1))
        text = (f"{file}:{line}: the traced function reads the number inside a traced Value "
                "(.data, float(), item(), format() or a math function): the compiled program keeps the "
                "number seen now and will not recompute it. Keep the computation in Values (a comparison "
                "such as `x > 0` is recorded and checked on every call; pygrad.select and max_data choose "
                "in the graph), or pass the number as a static= keyword")
        if self.strict:
            raise TracerError(text)
        warnings.warn_explicit(text, TracerWarning, file, line)


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
        if trace is not None:
            trace.read(self, 1)
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
