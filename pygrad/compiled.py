"""Trace once, run in C: `pygrad.compile`, `pygrad.compile_fn` and Program.

`compile(root, inputs, params)` flattens one graph into a Program (in C on
the C engine, a replay in plain Python on the reference engine) that is
re-evaluated, forward and backward, on each row of a batch without any
Python per node or per row. `compile_fn(fn, params=...)` does it for a
Python function whose graph depends on the shape of its arguments: one
Program per shape, traced on first use and cached. Parameters stay shared
with the eager Values: a program reads their `.data` at every run and adds
into their `.grad`.
"""
import gc
import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, Dict, Hashable, Iterable, List, NamedTuple, Optional, Tuple

from ._api import as_float
from ._engines import value_class
from ._ops import LEAF


def compile(root: Any, inputs: Iterable[Any] = (), params: Iterable[Any] = (),  # noqa: A001  (pygrad.compile)
            strict: bool = False) -> "Program":
    """Flatten the graph below `root` into a Program.

    inputs: leaf Values (placeholders) whose values come from each batch row,
            in column order. params: leaf Values whose grads the program
            accumulates. Every other leaf is a constant read at each run
            (its current data, but its grad is never touched).
    strict: by default a leaf Value you made yourself and left out of both
            lists silently becomes such a constant. With strict=True that
            is a ValueError naming the leaf; constants the graph made from
            plain numbers (x * 2, sum's 0) are always fine.
    """
    return Program(root, inputs, params, strict)


def _engine_code(V: type) -> Any:
    """The engine's flattened-graph class: C program or Python replay."""
    from . import reference
    from ._engines import cengine_or_none
    if V is reference.Value:
        from .replay import Replay
        return Replay
    cengine = cengine_or_none()
    if cengine is not None and V is cengine.Value:
        from ._cprogram import CCode
        return CCode
    raise TypeError(f"pygrad.compile needs a pygrad Value, not {V.__name__}")


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise ImportError("compiled programs take numpy arrays: pip install numpy") from None
    return numpy


class Program:
    """A compiled graph: `forward_batch` and `accumulate` over numpy batches."""

    def __init__(self, root: Any, inputs: Iterable[Any], params: Iterable[Any], strict: bool = False) -> None:
        V = type(root)
        code = _engine_code(V)
        inputs, params = list(inputs), list(params)
        for v in inputs + params:
            if type(v) is not V:
                raise TypeError(f"compile: inputs and params must be {V.__module__}.Value "
                                f"(the root's engine), not {type(v).__module__}.{type(v).__name__}")
            if v._opcode != LEAF:
                raise ValueError("compile: inputs and params must be leaf Values (made with Value(x))")
        if len(set(inputs + params)) != len(inputs) + len(params):
            raise ValueError("compile: a Value appears twice among inputs and params")
        # The program copies the graph's ops and holds its leaves: keeping
        # `root` here would keep the whole eager graph alive as well.
        self.inputs, self.params = inputs, params
        self._code = code(root, inputs, params)
        if strict:
            if sys.implementation.name == "pypy":
                # PyPy frees dropped handles only when it collects: they hold
                # nothing. (A leaf's table entry lets go one collection later.)
                gc.collect()
                gc.collect()
            held = self._code.held_constants()
            if held:
                raise ValueError(f"compile(strict=True): the graph reads {len(held)} leaf Value(s) that are "
                                 f"neither inputs nor params, e.g. Value(data={held[0].data!r}); list them in "
                                 "params= (trained) or inputs= (fed per row), or pass strict=False "
                                 "to read them as constants")

    def __len__(self) -> int:
        """The number of instructions (op nodes) in the program."""
        return len(self._code)

    def _batch(self, batch: Any) -> Any:
        np = _numpy()
        a = np.asarray(batch)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"batch must hold real numbers, not dtype {a.dtype}")
        if a.ndim != 2 or a.shape[1] != len(self.inputs):
            raise ValueError(f"batch must have shape (rows, {len(self.inputs)}): one column per input; got {a.shape}")
        return np.ascontiguousarray(a, dtype=np.float64)   # converts, never reinterprets

    def _run(self, batch: Any, backward: bool, scale: Any) -> Any:
        batch = self._batch(batch)
        out = _numpy().empty(batch.shape[0], dtype=float)
        self._code.run(batch, out, backward, as_float(scale))
        return out

    def forward_batch(self, batch: Any) -> Any:
        """The root's value for every row of `batch`, as an (n,) array."""
        return self._run(batch, False, 1.0)

    def accumulate(self, batch: Any, scale: float = 1.0) -> Any:
        """Forward and backward for every row; returns the (n,) outputs.

        Each param's grad receives, row after row, exactly what eager
        `(scale * loss_row).backward()` would add: scale * d loss / d param
        summed over the rows. If a row fails, no grad changes."""
        return self._run(batch, True, scale)

    def run_row(self, row: List[float], backward: bool = False, scale: float = 1.0) -> float:
        """One row of inputs given as a list of floats (no numpy needed)."""
        if len(row) != len(self.inputs):
            raise ValueError(f"a row needs one value per input (batch shape (rows, {len(self.inputs)})); "
                             f"got {len(row)}")
        return self._code.run_row(row, backward, as_float(scale))

    def __call__(self, *row: float) -> float:
        """The root's value for one row of inputs."""
        return self.run_row([as_float(x) for x in row])

    def __reduce__(self) -> Any:
        # The program is machine code over a graph that no longer exists in
        # Python; what can be saved is the model: rebuild and compile after loading.
        raise TypeError("a compiled Program does not pickle or copy: save the model's parameters "
                        "(they pickle) and compile again after loading; compile_fn objects do pickle")


# ---------------------------------------------------------------------------
# programs cached by shape


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


_PLAIN = frozenset((float, int))   # exact types: bool and numpy scalars take as_float's way


def _flatten(x: Any, flat: List[float]) -> Any:
    """Append the numbers in x (nested lists/tuples) to flat; return x's shape:
    None for a number, a tuple of the items' shapes for a list or tuple."""
    if type(x) is list or type(x) is tuple:
        if set(map(type, x)) <= _PLAIN:   # a flat list of plain numbers (token ids): no call per item
            flat.extend(map(float, x))
            return (None,) * len(x)
        return tuple([_flatten(item, flat) for item in x])
    if type(x) is not float and type(x) is not int and hasattr(x, "ndim") and x.ndim > 0:
        return _flatten(x.tolist(), flat)     # a numpy array: as the nested list it holds
    flat.append(x if type(x) is float else as_float(x))
    return None


def _placeholders(shape: Any, flat: List[float], V: Any, leaves: List[Any]) -> Any:
    """The argument rebuilt from Values (lists for lists), in _flatten's order."""
    if shape is None:
        leaves.append(V(flat[len(leaves)]))
        return leaves[-1]
    return [_placeholders(s, flat, V, leaves) for s in shape]


class CompiledFunction:
    """`fn` compiled once per shape of its arguments: see compile_fn."""

    def __init__(self, fn: Callable[..., Any], params: Iterable[Any], static: Iterable[str] = (),
                 maxsize: int = 64, strict: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"compile_fn: fn must be callable, not {type(fn).__name__}")
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"compile_fn: maxsize must be a positive int, not {maxsize!r}")
        self.fn, self.params = fn, list(params)
        self.static = frozenset(static)
        self.maxsize, self.strict = maxsize, strict
        self._V = type(self.params[0]) if self.params else value_class()
        self._programs: "OrderedDict[Hashable, Program]" = OrderedDict()
        self._hits = self._misses = 0
        self._lock = threading.Lock()
        self.__doc__ = getattr(fn, "__doc__", None)

    def _key(self, args: Tuple[Any, ...], kwargs: Dict[str, Any], flat: List[float]) -> Hashable:
        for name in kwargs:
            if name not in self.static:
                raise TypeError(f"compile_fn: keyword argument {name!r} is not declared static "
                                "(inputs go positionally; static=(...) names the keywords that select a program)")
        shape = _flatten(list(args), flat)
        return (shape, tuple(sorted(kwargs.items()))) if kwargs else shape

    def program(self, *args: Any, **kwargs: Any) -> Program:
        """The program for these arguments' shape (traced now if new)."""
        return self._program(args, kwargs, [])[0]

    def _program(self, args: Tuple[Any, ...], kwargs: Dict[str, Any], flat: List[float]) -> Tuple[Program, Hashable]:
        key = self._key(args, kwargs, flat)
        with self._lock:
            prog = self._programs.get(key)
            if prog is not None:
                self._hits += 1
                self._programs.move_to_end(key)
                return prog, key
            self._misses += 1
        prog = self._trace(key, flat, kwargs)
        with self._lock:
            self._programs[key] = prog
            self._programs.move_to_end(key)
            while len(self._programs) > self.maxsize:
                self._programs.popitem(last=False)   # the least recently used
        return prog, key

    def _trace(self, key: Hashable, flat: List[float], kwargs: Dict[str, Any]) -> Program:
        from .grad_mode import set_grad_enabled
        shape = key[0] if kwargs else key  # type: ignore[index]
        leaves: List[Any] = []
        args = _placeholders(shape, flat, self._V, leaves)
        was = set_grad_enabled(True)
        try:
            root = self.fn(*args, **kwargs)
        finally:
            set_grad_enabled(was)
        if type(root) is not self._V:
            raise TypeError(f"compile_fn: {getattr(self.fn, '__name__', 'fn')} must return one "
                            f"{self._V.__module__}.Value, not {type(root).__name__}")
        return Program(root, leaves, self.params, self.strict)

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        """fn(*args)'s value, computed by the program for their shape (no grads change)."""
        flat: List[float] = []
        prog, _ = self._program(args, kwargs, flat)
        return prog._code.run_row(flat, False, 1.0)

    def accumulate(self, *args: Any, scale: float = 1.0, **kwargs: Any) -> float:
        """fn(*args)'s value; adds scale * d fn / d param into each param's grad,
        as eager `(scale * fn(*args)).backward()` would. On error no grad changes."""
        flat: List[float] = []
        prog, _ = self._program(args, kwargs, flat)
        return prog._code.run_row(flat, True, as_float(scale))

    def __reduce__(self) -> Any:
        """Pickles and copies as fn, params and options: programs are traced anew."""
        return (CompiledFunction, (self.fn, self.params, tuple(sorted(self.static)), self.maxsize, self.strict))

    def cache_info(self) -> CacheInfo:
        """Hits, misses (traces), maxsize and current size of the program cache."""
        with self._lock:
            return CacheInfo(self._hits, self._misses, self.maxsize, len(self._programs))

    def programs(self) -> Dict[Hashable, Program]:
        """The cached programs by key (argument shape, then static keywords), oldest use first."""
        with self._lock:
            return dict(self._programs)

    def cache_clear(self) -> None:
        """Drop every cached program and reset the counters."""
        with self._lock:
            self._programs.clear()
            self._hits = self._misses = 0


def compile_fn(fn: Optional[Callable[..., Any]] = None, *, params: Iterable[Any] = (),
               static: Iterable[str] = (), maxsize: int = 64, strict: bool = False) -> Any:
    """Compile a Python function of numbers and lists of numbers, per shape.

    `fn` is called once per distinct shape of its positional arguments (the
    lengths of its lists or tuples, nested ones and numpy arrays included) and
    of the keyword arguments
    named in `static` (passed through as Python values); each number arrives
    as a leaf Value, so integers can index with `pygrad.select`. The traced
    graph becomes a Program, kept in an LRU cache of at most `maxsize`
    programs (`cache_info()`, `programs()`, `cache_clear()`). Later calls of
    the same shape replay it with the new numbers, in C on the C engine:

        step = pygrad.compile_fn(loss_fn, params=params)
        loss = step.accumulate(tokens, scale=1.0)   # forward + backward into grads
        value = step(tokens)                        # forward only

    Python control flow that reads a Value's `.data` is frozen at trace time:
    make such values static, or keep the decision in the graph. Usable as a
    decorator: `@pygrad.compile_fn(params=params)`. `strict=True` makes a
    Value that fn reads but that is not in params an error, as in compile.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, params, static, maxsize, strict)
    return CompiledFunction(fn, params, static, maxsize, strict)
