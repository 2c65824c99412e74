"""Graph ops that let data choose: `select` (indexing by a Value) and
`max_data` (a max that gradients do not flow through).

Eager microgpt indexes Python lists with token ids and subtracts
`max(v.data for v in logits)`: Python picks the graph. A traced program
(pygrad.compile_fn) must take those choices as data instead, so both have
an op form that a compiled program replays with new values.
"""
import math
import operator
from typing import Any, Sequence

from . import _ops
from ._api import ValueBase, as_value
from ._engines import engine_class, value_class


def _is_row(x: Any) -> bool:
    return isinstance(x, (list, tuple))


def select(index: Any, values: Sequence[Any]) -> Any:
    """values[index], where index may be a Value (a graph input, say).

    With a Python int this is plain indexing (values[index], the same
    object). With a Value it is one graph node whose value is
    values[int(index.data)] and whose gradient all goes to that value (none
    to the index or the others); in a compiled program the index is read at
    each run. A non-integral index raises ValueError, an out-of-range one
    IndexError (negative indices count from the end, as in Python). If
    `values` holds rows (lists), the result is the selected row: one select
    per column."""
    if not isinstance(index, ValueBase):
        return values[operator.index(index)]
    values = list(values)
    if values and all(_is_row(v) for v in values):
        lengths = {len(v) for v in values}
        if len(lengths) > 1:     # zip() would drop the longer rows' tails
            raise ValueError(f"select: rows of different lengths {sorted(lengths)}; "
                             "each row needs one value per column")
        return [select(index, column) for column in zip(*values)]
    V: Any = engine_class(index)    # (index's class may be a user's subclass)
    n, x = len(values), index.data
    if not math.isfinite(x) or x != math.floor(x):
        raise ValueError(f"select: index {x!r} is not an integer")
    if not -n <= x < n:
        raise IndexError(f"select: index {int(x)} out of range for {n} values")
    return V._nary(_ops.SELECT, [index] + [as_value(V, v) for v in values])


def max_data(values: Sequence[Any]) -> Any:
    """A node holding max(v.data for v in values), through which no gradient
    flows: the graph form of that expression (softmax's shift, say), so a
    compiled program recomputes it from each run's values."""
    values = list(values)
    if not values:
        raise ValueError("max_data: no values")
    V: Any = next((engine_class(v) for v in values if isinstance(v, ValueBase)), None) or value_class()
    return V._nary(_ops.MAXDATA, [as_value(V, v) for v in values])
