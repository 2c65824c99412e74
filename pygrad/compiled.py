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
import copy
import gc
import sys
import threading
import types
from collections import OrderedDict
from typing import Any, Callable, Dict, Hashable, Iterable, List, NamedTuple, Optional, Tuple

from . import _trace
from ._api import as_float
from ._engines import value_class
from ._errors import in_row
from ._ops import LEAF
from ._trace import GuardFailed, TracerError


def compile(root: Any, inputs: Iterable[Any] = (), params: Iterable[Any] = (),  # noqa: A001  (pygrad.compile)
            strict: bool = False, exact: bool = True) -> "Program":
    """Flatten the graph below `root` into a Program.

    inputs: leaf Values (placeholders) whose values come from each batch row,
            in column order. params: leaf Values whose grads the program
            accumulates. Every other leaf is a constant read at each run
            (its current data, but its grad is never touched); so is a
            param with requires_grad = False when compiled.
    strict: by default a leaf Value you made yourself and left out of both
            lists silently becomes such a constant. With strict=True that
            is a ValueError naming the leaf; constants the graph made from
            plain numbers (x * 2, sum's 0) are always fine.
    exact:  True (the default): every result and grad is eager's, bit for
            bit. False: the C engine may reorder sums (partial sums, vector
            lanes) for speed, so results may differ from eager's in the last
            bits (within 1e-12 relative in pygrad's tests). The reference
            engine's replay stays exact either way.
    """
    return Program(root, inputs, params, strict, exact=exact)


def custom_op_error(root: Any, trace: Any = None, order_conflict: bool = False) -> TypeError:
    """compile's error for a graph holding a user's op (Value(data, children,
    ...)) it cannot recompute, naming the first such node below root and
    saying how to write it so that it compiles. `trace`: the _trace.Trace
    that made the graph (compile_fn), which knows why it refused an op."""
    from ._ops import CUSTOM, HOOK
    recorded = {_node_key(c.node) for c in trace.customs} if trace is not None else set()
    seen: set = set()
    stack = [] if order_conflict else [root]
    while stack:
        v = stack.pop()
        if v._opcode in (CUSTOM, HOOK) and _node_key(v) not in recorded:
            return TypeError(_refusal(v, trace))
        for k in v._children:
            if id(k) not in seen:
                seen.add(id(k))
                stack.append(k)
    return TypeError("compile: a user's op's data or local gradients use a Value that backward reaches only "
                     "after the op (one computed from a later part of the graph); compute them from the op's "
                     "own children")


def _refusal(v: Any, trace: Any) -> str:
    name = repr(v._op) if v._op else "a microgpt-style op"
    head = f"compile: the graph holds a custom op ({name}, made as Value(data, children, ...)) that a compiled " \
           "program cannot recompute: "
    if trace is None:
        return head + ("compile() reads a graph built eagerly, where its local gradients are numbers. Make it "
                       "inside a function given to pygrad.compile_fn, with Values as local_grads, or write it "
                       "from pygrad's operators, or run it eagerly")
    why = trace.refused.get(_node_key(v))
    if why is None:   # made by the C type's own fast path: numbers
        from ._ops import HOOK
        from ._trace import _why_not
        why = _why_not(None if v._opcode == HOOK else (0.0,), None, 1)
    return head + why + "; or run it eagerly"


def _node_key(v: Any) -> int:
    """A node's key in a trace's records: its node id (C engine), else id(v)."""
    node_id = getattr(v, "_id", None)
    return node_id if isinstance(node_id, int) else id(v)


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

    def __init__(self, root: Any, inputs: Iterable[Any], params: Iterable[Any], strict: bool = False,
                 guards: Tuple[Any, ...] = (), exact: bool = True, trace: Any = None) -> None:
        V = type(root)
        if not isinstance(exact, bool):
            raise TypeError(f"compile: exact must be True or False, not {exact!r}")
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
        # A frozen Value (requires_grad = False) is read as a constant, even if listed.
        params = [p for p in params if p.requires_grad]
        # The program copies the graph's ops and holds its leaves: keeping
        # `root` here would keep the whole eager graph alive as well.
        self.inputs, self.params = inputs, params
        self._guards = tuple(guards)                     # _trace.Guard, in the order seen
        self._outcomes = tuple(g.outcome for g in self._guards)
        self._family: Optional["_Variants"] = None     # compile_fn's programs for the same shape
        self.exact = exact
        self._code = code(root, inputs, params, self._guards, exact, trace)
        if strict:
            if sys.implementation.name == "pypy":
                # PyPy frees dropped handles only when it collects: they hold
                # nothing. (A leaf's table entry lets go one collection later.)
                gc.collect()
                gc.collect()
            held = [v for v in self._code.held_constants() if v.requires_grad]   # frozen: constants on purpose
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
        if self._family is None:
            self._code.run_arrays(batch, out, backward, as_float(scale))
        else:
            self._family.run_batch(self, batch, out, backward, as_float(scale))
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
        if self._family is None:
            return self._code.run_row(row, backward, as_float(scale))
        return self._family.run_row(self, [as_float(x) for x in row], backward, as_float(scale))

    def depends_on_inputs(self) -> bool:
        """Whether the root's value depends on an input or a param."""
        return self._code.depends()

    def __call__(self, *row: float) -> float:
        """The root's value for one row of inputs."""
        return self.run_row([as_float(x) for x in row])

    def __reduce__(self) -> Any:
        # The program is machine code over a graph that no longer exists in
        # Python; what can be saved is the model: rebuild and compile after loading.
        raise TypeError("a compiled Program does not pickle or copy: save the model's parameters "
                        "(they pickle) and compile again after loading; a compile_fn object pickles when its "
                        "function owns its params (a bound method or callable object) or it has none")


# ---------------------------------------------------------------------------
# programs cached by shape


class CacheInfo(NamedTuple):
    """What `CompiledFunction.cache_info()` returns, as functools.lru_cache's:
    calls that found their program, traces made, the cache's size limit (in
    argument shapes) and the programs it holds."""

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


def _reads_any(prog: Program, values: List[Any]) -> bool:
    """Does prog read any of `values` as a constant? (held outside its graph)"""
    constants = getattr(prog._code, "constants", None)   # the reference engine's (real, copy) pairs
    if constants is not None:
        return any(real is v for real, _ in constants for v in values)
    held = prog._code.held_constants()
    ids = {id(v) for v in values}
    return any(id(h) in ids or any(h == v for v in values) for h in held)


class _Variants:
    """The programs traced for one argument shape: the first, and one per
    other combination of outcomes its guards met (a tree of traces, kept as
    a list: a row goes to the program whose outcomes agree with the row's
    up to the guard that failed)."""

    def __init__(self, owner: "CompiledFunction", kwargs: Dict[str, Any], shape: Any) -> None:
        self.owner, self.kwargs, self.shape = owner, kwargs, shape
        self.programs: List[Program] = []

    def add(self, prog: Program) -> Program:
        prog._family = self if prog._guards else None
        self.programs.append(prog)
        return prog

    def for_row(self, prog: Program, guard: int, flat: List[float]) -> Program:
        """The program for a row that met `prog`'s guard `guard` the other way."""
        seen = prog._outcomes[:guard] + (not prog._outcomes[guard],)
        with self.owner._lock:
            for p in self.programs:
                if p._outcomes[:len(seen)] == seen:
                    return p
        if len(self.programs) >= self.owner.max_variants:
            raise TracerError(f"{prog._guards[guard].describe()} has taken {len(self.programs) + 1} different "
                              f"courses for one argument shape (max_variants={self.owner.max_variants}); "
                              "write the choice in the graph (pygrad.select, max_data) or raise max_variants")
        new = self.owner._trace_one(flat, self.kwargs, self.shape)
        new._family = self
        with self.owner._lock:
            self.programs.append(new)
            self.owner._misses += 1
        return new

    def _retry(self, prog: Program, failure: GuardFailed, flat: List[float], tries: int) -> Program:
        if tries > self.owner.max_variants:
            raise TracerError(f"{prog._guards[failure.guard].describe()} comes out differently each time the "
                              "function is traced on the same numbers: it must depend only on its arguments")
        return self.for_row(prog, failure.guard, flat)

    def run_row(self, prog: Program, flat: List[float], backward: bool, scale: float) -> float:
        for tries in range(self.owner.max_variants + 2):
            try:
                return prog._code.run_row(flat, backward, scale)
            except GuardFailed as failure:
                prog = self._retry(prog, failure, flat, tries)
        raise AssertionError("unreachable")   # _retry raises first

    def run_batch(self, prog: Program, batch: Any, out: Any, backward: bool, scale: float) -> None:
        """Rows in order, each through the program for its outcomes. A program
        stops at a row whose guard fails, changing nothing; the rows before it
        are run again up to there, then the rest go on in the row's program.
        So params receive every row's gradient in row order, as eager would,
        and if a row fails, no grad changes (the grads are put back)."""
        r, n, tries, saved = 0, len(out), 0, None
        try:
            while r < n:
                try:
                    prog._code.run_arrays(batch[r:], out[r:], backward, scale, row0=r)
                    return
                except GuardFailed as failure:
                    if failure.row > 0:
                        if backward and saved is None:
                            saved = [p.grad for p in prog.params]
                        prog._code.run_arrays(batch[r:r + failure.row], out[r:r + failure.row], backward, scale,
                                              row0=r)
                        tries = 0
                    r += failure.row
                    try:
                        prog = self._retry(prog, failure, batch[r].tolist(), tries)
                    except (ArithmeticError, ValueError, IndexError) as exc:   # the row fails in its branch
                        if isinstance(exc, TracerError):
                            raise
                        raise in_row(exc, r) from None
                    tries += 1
        except BaseException:
            if saved is not None:
                for p, g in zip(prog.params, saved):
                    p.grad = g
            raise


class CompiledFunction:
    """`fn` compiled once per shape of its arguments: see compile_fn."""

    def __init__(self, fn: Callable[..., Any], params: Iterable[Any], static: Iterable[str] = (),
                 maxsize: int = 64, strict: bool = False, max_variants: int = 16, exact: bool = True) -> None:
        if not callable(fn):
            raise TypeError(f"compile_fn: fn must be callable, not {type(fn).__name__}")
        for name, n in (("maxsize", maxsize), ("max_variants", max_variants)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"compile_fn: {name} must be a positive int, not {n!r}")
        if not isinstance(exact, bool):
            raise TypeError(f"compile_fn: exact must be True or False, not {exact!r}")
        self.exact = exact
        self.fn, self.params = fn, list(params)
        self.static = frozenset(static)
        self.maxsize, self.strict, self.max_variants = maxsize, strict, max_variants
        self._V = type(self.params[0]) if self.params else value_class()
        self._programs: "OrderedDict[Hashable, _Variants]" = OrderedDict()
        self._hits = self._misses = 0
        self._lock = threading.Lock()
        self._originals: List[Any] = []   # a deep copy's: the params it was copied from
        self.__doc__ = getattr(fn, "__doc__", None)

    def _key(self, args: Tuple[Any, ...], kwargs: Dict[str, Any], flat: List[float]) -> Hashable:
        for name, value in kwargs.items():
            if name not in self.static:
                raise TypeError(f"compile_fn: keyword argument {name!r} is not declared static "
                                "(inputs go positionally; static=(...) names the keywords that select a program)")
            try:
                hash(value)          # it is part of the program cache's key
            except TypeError:
                raise TypeError(f"compile_fn: static keyword argument {name!r} must be hashable "
                                f"(a tuple, not a list, say); got {type(value).__name__}") from None
        shape = _flatten(list(args), flat)
        return (shape, tuple(sorted(kwargs.items()))) if kwargs else shape

    def program(self, *args: Any, **kwargs: Any) -> Program:
        """The program for these arguments' shape (traced now if new). If the
        function takes decisions on its Values, the program sends each row
        to the variant traced for that row's decisions."""
        return self._program(args, kwargs, [])[0]

    def _program(self, args: Tuple[Any, ...], kwargs: Dict[str, Any], flat: List[float]) -> Tuple[Program, Hashable]:
        key = self._key(args, kwargs, flat)
        with self._lock:
            family = self._programs.get(key)
            if family is not None:
                self._hits += 1
                self._programs.move_to_end(key)
                return family.programs[0], key
            self._misses += 1
        family = _Variants(self, kwargs, key[0] if kwargs else key)  # type: ignore[index]
        prog = family.add(self._trace_one(flat, kwargs, family.shape))
        with self._lock:
            self._programs[key] = family
            self._programs.move_to_end(key)
            while len(self._programs) > self.maxsize:
                self._programs.popitem(last=False)   # the least recently used
        return prog, key

    def _trace_one(self, flat: List[float], kwargs: Dict[str, Any], shape: Any) -> Program:
        """Run fn on leaves holding `flat` and compile what it built, with its guards."""
        from .grad_mode import set_grad_enabled
        leaves: List[Any] = []
        args = _placeholders(shape, flat, self._V, leaves)
        trace = _trace.Trace(self.strict)
        was = set_grad_enabled(True)
        try:
            with _trace.tracing(self._V, trace):
                root = self.fn(*args, **kwargs)
        finally:
            set_grad_enabled(was)
        name = getattr(self.fn, "__name__", "fn")
        if type(root) is not self._V:
            raise TypeError(f"compile_fn: {name} must return one "
                            f"{self._V.__module__}.Value, not {type(root).__name__}")
        prog = Program(root, leaves, self.params, self.strict, tuple(trace.guards), self.exact, trace)
        if self._originals and _reads_any(prog, self._originals):
            raise TypeError(f"compile_fn: this copy's {name} reads the params the original was made with, not "
                            "the copies it holds: deepcopy the model and its function together (one "
                            "deepcopy call), or call compile_fn again on the copy")
        if not prog._guards and not prog.depends_on_inputs():
            raise TracerError(f"compile_fn: what {name} returns depends on none of its arguments and none of "
                              "the params, so its program would give the first result for every call: did it "
                              "run under no_grad, or build its result from .data? (Values that change between "
                              "calls must be arguments or params)")
        return prog

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        """fn(*args)'s value, computed by the program for their shape (no grads change)."""
        flat: List[float] = []
        prog, _ = self._program(args, kwargs, flat)
        if prog._family is None:
            return prog._code.run_row(flat, False, 1.0)
        return prog._family.run_row(prog, flat, False, 1.0)

    def accumulate(self, *args: Any, scale: float = 1.0, **kwargs: Any) -> float:
        """fn(*args)'s value; adds scale * d fn / d param into each param's grad,
        as eager `(scale * fn(*args)).backward()` would. On error no grad changes."""
        flat: List[float] = []
        prog, _ = self._program(args, kwargs, flat)
        if prog._family is None:
            return prog._code.run_row(flat, True, as_float(scale))
        return prog._family.run_row(prog, flat, True, as_float(scale))

    # Copies. A copy must compute with, and train, the params it holds. A
    # bound method or a callable object that owns its params is copied with
    # them (deepcopy's memo and pickle keep the two together); a plain
    # function (a lambda, a closure, a module function) reads its params
    # from outside, so its copy would still read the originals: refused.
    def _check_copyable(self, how: str) -> None:
        if self.params and isinstance(self.fn, types.FunctionType):
            raise TypeError(f"cannot {how} a compiled plain function with params: its function reads the params "
                            "it was made with, not a copy's, so the copy would train nothing. Copy or pickle "
                            "the model (its params), then call compile_fn again on a function of the copy; or "
                            "compile a bound method or callable object that owns its params (those copy whole)")

    def _options(self) -> Tuple[Any, ...]:
        return (tuple(sorted(self.static)), self.maxsize, self.strict, self.max_variants, self.exact)

    def __reduce__(self) -> Any:
        """Pickles as fn, params and options: programs are traced anew."""
        self._check_copyable("pickle")
        return (CompiledFunction, (self.fn, self.params) + self._options())

    def __copy__(self) -> "CompiledFunction":
        """The same fn over the same params (programs are traced anew)."""
        return CompiledFunction(self.fn, self.params, *self._options())

    def __deepcopy__(self, memo: Dict[int, Any]) -> "CompiledFunction":
        self._check_copyable("deepcopy")
        new = CompiledFunction(copy.deepcopy(self.fn, memo), copy.deepcopy(self.params, memo), *self._options())
        new._originals = list(self.params)
        return new

    def cache_info(self) -> CacheInfo:
        """Hits, misses (traces, variants included), maxsize (argument shapes
        kept) and currsize (programs kept, variants included)."""
        with self._lock:
            return CacheInfo(self._hits, self._misses, self.maxsize,
                             sum(len(f.programs) for f in self._programs.values()))

    def programs(self) -> Dict[Hashable, Program]:
        """The cached programs by key (argument shape, then static keywords), oldest use first:
        each shape's first program (it sends rows to the shape's other variants)."""
        with self._lock:
            return {key: f.programs[0] for key, f in self._programs.items()}

    def variants(self, *args: Any, **kwargs: Any) -> List[Program]:
        """Every program traced for these arguments' shape (one per course of its decisions)."""
        key = self._key(args, kwargs, [])
        with self._lock:
            family = self._programs.get(key)
            return list(family.programs) if family is not None else []

    def cache_clear(self) -> None:
        """Drop every cached program and reset the counters."""
        with self._lock:
            self._programs.clear()
            self._hits = self._misses = 0


def compile_fn(fn: Optional[Callable[..., Any]] = None, *, params: Iterable[Any] = (),
               static: Iterable[str] = (), maxsize: int = 64, strict: bool = False,
               max_variants: int = 16, exact: bool = True) -> Any:
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

    A comparison of a traced Value (`if x > 0`, `max`, `min`, `sorted`) is
    recorded as a guard and checked on every later call, per row; a row that
    decides otherwise runs through a program traced for its decisions (at
    most `max_variants` per shape, then a TracerError naming the line). A
    numeric read (`x.data`, `float(x)`, `format(x)`, `math.f(x)`) cannot be
    checked: it gives a TracerWarning naming the line (under strict=True a
    TracerError). no_grad inside fn, or a result that depends on no argument
    and no param, is a TracerError. Usable as a decorator:
    `@pygrad.compile_fn(params=params)`. `strict=True` also makes a Value
    that fn reads but that is not in params an error, as in compile.
    `exact=False` lets the C engine reorder sums for speed, as in compile.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, params, static, maxsize, strict, max_variants, exact)
    return CompiledFunction(fn, params, static, maxsize, strict, max_variants, exact)
