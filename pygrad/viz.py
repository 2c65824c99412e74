"""Seeing the graph: Graphviz DOT text for the graph below a Value.

`to_dot(v)` needs nothing installed and returns the DOT source as a string,
in micrograd's draw_dot layout: each Value is a record node showing its data
and grad, and each Value made by an op gets a small circle labelled with
its `_op`, wired inputs -> op -> result. `draw(v)` renders that text with
the optional `graphviz` package (which needs Graphviz's `dot` program).

    import pygrad
    x = pygrad.Value(2.0)
    y = x * x + 1
    y.backward()
    print(pygrad.to_dot(y))                  # paste into any Graphviz viewer
    pygrad.draw(y, "graph", format="png")    # writes graph.png

Both engines draw the same text for the same graph: nodes are numbered in
the order they are reached from the root (v0 is the root), never by
address. A node shared by several parents is drawn once; each operand slot
gets its own edge, in operand order (so `x * x` shows two arrows from x).
The constant exponent of `x ** 2` is part of the op ('**2'), not a node,
as in micrograd's `_prev`.

A Value with a `label` (micrograd lecture's `Value(2.0, label='a')`)
shows it in its record: `{ a | data 2.0000 | grad 0.0000 }`.

Large graphs are truncated, not refused: the first `max_nodes` Values
reached breadth-first from the root (those nearest the output) are drawn,
plus a note "... more nodes not drawn" with dashed arrows to the ops whose
inputs were cut off. The walk stops there, so drawing the top of a
million-node graph costs as little as drawing a small one. `max_nodes=None`
draws everything. The walk is iterative, so graphs a million nodes deep are
fine.
"""
from collections import deque
from typing import Any, Dict, List, Optional, Tuple

from . import _ops
from ._api import ValueBase

__all__ = ["draw", "to_dot", "show", "step_through", "LiveLoss"]

RANKDIRS = ("LR", "RL", "TB", "BT")


def to_dot(root: ValueBase, max_nodes: Optional[int] = 500, rankdir: str = "LR") -> str:
    """Graphviz DOT text for the graph below `root`, with data, grad and op
    per node (see the module docstring for the layout and truncation)."""
    _check_args(root, max_nodes, rankdir)
    index, drawn = _walk(root, max_nodes)
    lines = ["digraph pygrad {", f"  rankdir={rankdir};"]
    for i, (v, _) in enumerate(drawn):
        name = f"{_record_text(v.label)} | " if v.label else ""
        lines.append(f'  v{i} [shape=record, label="{{ {name}data {_fmt(v.data)} | grad {_fmt(v.grad)} }}"];')
        if v._opcode != _ops.LEAF:
            lines.append(f"  v{i}_op [shape=circle, label={_quote(v._op)}];")
            lines.append(f"  v{i}_op -> v{i};")
    cut: List[Any] = []    # op nodes with an input that was not drawn
    for i, (_, operands) in enumerate(drawn):
        for k in operands:
            j = index[k]
            if j < len(drawn):
                lines.append(f"  v{j} -> v{i}_op;")
            elif not cut or cut[-1] != i:
                cut.append(i)
    if cut:
        lines.append('  more [shape=note, style=dashed, label="... more nodes not drawn"];')
        lines.extend(f"  more -> v{i}_op [style=dashed];" for i in cut)
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(root: ValueBase, filename: Optional[str] = None, format: str = "svg", **kwargs: Any) -> Any:
    """Render `to_dot(root, **kwargs)` with the optional graphviz package.

    With `filename`, writes `filename + "." + format` (e.g. "graph" ->
    "graph.svg") and returns that path; without, returns the
    `graphviz.Source` (which a notebook displays inline)."""
    try:
        import graphviz
    except ImportError:
        raise ImportError(
            "pygrad.draw needs the optional graphviz package: pip install graphviz "
            "(rendering also needs Graphviz's `dot` program on PATH, e.g. apt install graphviz "
            "or brew install graphviz). pygrad.to_dot(value) gives the DOT text with nothing installed."
        ) from None
    source = graphviz.Source(to_dot(root, **kwargs), format=format)
    if filename is None:
        return source
    return source.render(filename, format=format, cleanup=True)


# ---------------------------------------------------------------------------


def _check_args(root, max_nodes, rankdir):
    if not isinstance(root, ValueBase):
        raise TypeError(f"to_dot draws a pygrad Value, not {type(root).__name__}")
    if max_nodes is not None and (type(max_nodes) is not int or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None (no limit), not {max_nodes!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, not {rankdir!r}")


def _operands(v):
    """v's operands in order; x ** 2's constant exponent is part of the op."""
    children = v._children
    return children[:1] if v._opcode == _ops.POWK else children


def _walk(root, max_nodes):
    """Breadth-first from root, stopping after max_nodes Values. Returns
    (index, drawn): [(value, operands)] for the Values drawn, and a number
    for every Value reached (the drawn ones first, in order, then operands
    of drawn Values that were cut off). Values are dict keys: on the C
    engine two handles on one node are equal, so a shared node is numbered
    once."""
    limit = float("inf") if max_nodes is None else max_nodes
    index: Dict[Any, int] = {root: 0}
    drawn: List[Tuple[Any, Tuple[Any, ...]]] = []
    queue = deque([root])
    while queue and len(drawn) < limit:   # popped in numbering order: v is number len(drawn)
        v = queue.popleft()
        operands = _operands(v)
        drawn.append((v, operands))
        for k in operands:
            if k not in index:
                index[k] = len(index)
                queue.append(k)
    return index, drawn


def _fmt(x):
    # micrograd's %.4f, except where it would print hundreds of digits.
    return f"{x:.4f}" if abs(x) < 1e15 else f"{x:.4e}"


def _record_text(text):
    """A label inside a record: the record's own syntax characters escaped."""
    return "".join("\\" + c if c in '{}|<>"\\' else c for c in _no_nul(text)).replace("\n", "\\n")


def _quote(text):
    """A DOT double-quoted string holding `text` exactly (a NUL shown as ␀)."""
    return '"' + _no_nul(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _no_nul(text):
    """str(text) with each NUL shown as U+2400 (␀): `dot` fails on a NUL byte."""
    return str(text).replace("\0", "\u2400")


# The pure-Python drawing and the step-through view live in their own
# modules; imported last, since they use the helpers above.
from ._live import LiveLoss  # noqa: E402
from ._show import show  # noqa: E402
from ._stepthrough import step_through  # noqa: E402
