"""Trace once, run in C: `pygrad.compile` and the Program it returns.

A graph built with Python operators is flattened into a program (in C on
the C engine, in plain Python on the reference engine), then re-evaluated,
forward and backward, on each row of a numpy batch without any Python per
node or per row. Parameters stay shared with the eager Values: a program
reads their `.data` at every run and adds into their `.grad`.
"""
from typing import Any, Iterable

from ._api import as_float
from ._ops import LEAF


def compile(root: Any, inputs: Iterable[Any] = (), params: Iterable[Any] = ()) -> "Program":  # noqa: A001  (pygrad.compile)
    """Flatten the graph below `root` into a Program.

    inputs: leaf Values (placeholders) whose values come from each batch row,
            in column order. params: leaf Values whose grads the program
            accumulates. Every other leaf is a constant read at each run.
    """
    return Program(root, inputs, params)


def _engine_program(V: type) -> Any:
    from . import reference, replay
    from ._engines import cengine_or_none
    if V is reference.Value:
        return replay.Program
    cengine = cengine_or_none()
    if cengine is not None and V is cengine.Value:
        return cengine.Program
    raise TypeError(f"pygrad.compile needs a pygrad Value, not {V.__name__}")


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise ImportError("compiled programs take numpy arrays: pip install numpy") from None
    return numpy


class Program:
    """A compiled graph: `forward_batch` and `accumulate` over numpy batches."""

    def __init__(self, root: Any, inputs: Iterable[Any], params: Iterable[Any]) -> None:
        V = type(root)
        impl = _engine_program(V)
        inputs, params = list(inputs), list(params)
        for v in inputs + params:
            if type(v) is not V:
                raise TypeError(f"compile: inputs and params must be {V.__module__}.Value "
                                f"(the root's engine), not {type(v).__module__}.{type(v).__name__}")
            if v._code() != LEAF:
                raise ValueError("compile: inputs and params must be leaf Values (made with Value(x))")
        if len(set(inputs + params)) != len(inputs) + len(params):
            raise ValueError("compile: a Value appears twice among inputs and params")
        # The program copies the graph's ops and holds its leaves: keeping
        # `root` here would keep the whole eager graph alive as well.
        self.inputs, self.params = inputs, params
        self._impl = impl(root, inputs, params)

    def __len__(self) -> int:
        """The number of instructions (op nodes) in the program."""
        return len(self._impl)

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
        self._impl.run(batch, out, backward, as_float(scale))
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

    def __call__(self, *row: float) -> float:
        """The root's value for one row of inputs."""
        return float(self.forward_batch([row])[0])
