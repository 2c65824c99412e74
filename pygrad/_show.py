"""`pygrad.show`: the graph below a Value as SVG, with nothing installed.

It walks the graph through what both engines' Values offer (the operands
in order, `_op`, `data`, `grad`, `label`), lays it out with _layout (pure
Python, no Graphviz) and writes SVG with _svg. Each Value is a box
`label | data | grad`, with its op in a circle on the box's left where the
inputs come in, as in micrograd's draw_dot.

Big graphs collapse instead of becoming unreadable: past `max_nodes`
Values, leaves that feed a single op are folded into it (the op's box says
"+ 16 leaves": a neuron's weights, say), and if that is still too many,
only the `max_nodes` Values nearest the output are drawn, with one dashed
box standing for the rest. The walk itself stops after WALK_FACTOR times
`max_nodes` Values, so showing the top of a million-node graph is cheap.
"""
from collections import deque
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import _layout, _svg
from ._api import ValueBase
from .viz import _fmt, _operands

WALK_FACTOR = 20
OP_R = 13.0          # the op circle's radius
OP_GAP = 10.0        # between the op circle and its box
BOX_H = 24.0
PAD = 8.0
GRAD_CHARS = len("grad -999.0000")


class Node:
    """One box of the drawing: a Value, or a summary of Values not drawn."""

    __slots__ = ("value", "name", "op", "inputs", "folded", "more")

    def __init__(self, value: Any, name: str, op: str) -> None:
        self.value, self.name, self.op = value, name, op
        self.inputs: List[int] = []
        self.folded: List[str] = []     # names of leaves folded into this node
        self.more = 0                   # > 0: a summary box standing for this many Values

    def fields(self) -> List[str]:
        if self.more:
            return [f"... {self.name} {self.more} more nodes not drawn".replace("  ", " ")]
        v = self.value
        out = [self.name] if self.name else []
        out += [f"data {_fmt(v.data)}", f"grad {_fmt(v.grad)}"]
        if self.folded:
            out.append(f"+ {len(self.folded)} leaves")
        return out


def walk(root: Any, limit: int) -> Tuple[List[Any], List[List[int]], bool]:
    """Breadth-first from root: (values, inputs per value as indices, cut).
    Stops after `limit` Values; a Value whose inputs were not reached keeps
    an input of -1 (cut=True then)."""
    index: Dict[Any, int] = {root: 0}
    values, inputs = [root], [[]]   # type: List[Any], List[List[int]]
    queue, cut = deque([0]), False
    while queue:
        i = queue.popleft()
        for k in _operands(values[i]):
            j = index.get(k)
            if j is None:
                if len(values) >= limit:
                    inputs[i].append(-1)
                    cut = True
                    continue
                j = index[k] = len(values)
                values.append(k)
                inputs.append([])
                queue.append(j)
            inputs[i].append(j)
    return values, inputs, cut


def build(root: Any, names: Dict[Any, str], max_nodes: Optional[int]) -> List[Node]:
    """The boxes to draw (root first) with their inputs, collapsed to fit max_nodes."""
    limit = float("inf") if max_nodes is None else max_nodes * WALK_FACTOR
    values, inputs, cut = walk(root, limit)    # type: ignore[arg-type]
    nodes = [Node(v, names.get(v) or str(v.label), v._op) for v in values]
    keep = list(range(len(values)))
    if max_nodes is not None and len(values) > max_nodes:
        keep = _fold_leaves(nodes, inputs)
    if max_nodes is not None and len(keep) > max_nodes:
        keep = keep[:max_nodes]       # breadth-first order: the nearest the output
    return _renumber(nodes, inputs, keep, cut)


def _fold_leaves(nodes: List[Node], inputs: List[List[int]]) -> List[int]:
    """Fold every leaf that feeds exactly one op into that op; the rest stay."""
    uses = [0] * len(nodes)
    for ks in inputs:
        for k in set(ks):
            if k >= 0:
                uses[k] += 1
    folded = [i > 0 and not inputs[i] and uses[i] == 1 for i in range(len(nodes))]
    for i, ks in enumerate(inputs):
        nodes[i].folded = [nodes[k].name or "leaf" for k in ks if k >= 0 and folded[k]]
        inputs[i] = [k for k in ks if k < 0 or not folded[k]]
    return [i for i in range(len(nodes)) if not folded[i]]


def _renumber(nodes: List[Node], inputs: List[List[int]], keep: List[int], cut: bool) -> List[Node]:
    new = {old: i for i, old in enumerate(keep)}
    out = [nodes[i] for i in keep]
    dropped = 0
    for node, old in zip(out, keep):
        seen = set()
        for k in inputs[old]:
            j = new.get(k, -1)
            if j < 0:                 # an input not drawn: wire it to the summary box
                dropped = 1
            if j not in seen:
                seen.add(j)
                node.inputs.append(j)
    if dropped:
        more = Node(None, "", "")
        more.more = len(nodes) - len(keep) + cut   # a cut walk left at least one more
        more.name = "at least" if cut else ""   # the walk stopped: the rest was not counted
        out.append(more)
        for node in out:
            node.inputs = [len(out) - 1 if j < 0 else j for j in node.inputs]
    return out


# ---------------------------------------------------------------------------


def field_width(field: str) -> float:
    # A grad field has room for any 4-decimal grad below 1000: the
    # step-through view rewrites it without moving the boxes.
    return _svg.text_width(field.ljust(GRAD_CHARS) if field.startswith("grad ") else field) + 2 * PAD


def box_size(node: Node) -> Tuple[float, float]:
    width = sum(field_width(f) for f in node.fields())
    op_w = 2 * OP_R + OP_GAP if node.op else 0.0
    return width + op_w, BOX_H


def render(nodes: List[Node], ids: bool = False) -> str:
    """The SVG drawing. With ids, each Value's group is id'd pg-n<i> and its
    grad text pg-g<i> (the step-through view updates them)."""
    corners, (w, h) = _layout.layout([n.inputs for n in nodes], [box_size(n) for n in nodes])
    body = [_svg.STYLE]
    for i, node in enumerate(nodes):
        for j in node.inputs:
            jx, jy = corners[j]
            x, y = corners[i]
            body.append(_svg.edge(jx + box_size(nodes[j])[0], jy + BOX_H / 2, x, y + BOX_H / 2,
                                  dashed=bool(nodes[j].more)))
    for i, node in enumerate(nodes):
        body.append(_node_svg(i, node, corners[i], ids))
    return _svg.document(w, h, body)


def _node_svg(i: int, node: Node, corner: Tuple[float, float], ids: bool) -> str:
    x, y = corner
    gid = f' id="pg-n{i}"' if ids else ""
    title = "" if node.more else f"<title>{_svg.text(_tooltip(node))}</title>"
    parts = [f'<g class="pg-g"{gid}>{title}']
    if node.op:
        parts.append(_svg.circle(x + OP_R, y + BOX_H / 2, OP_R, "pg-op"))
        parts.append(_svg.label(x + OP_R, y + BOX_H / 2 + 4, node.op, 'text-anchor="middle"'))
        x += 2 * OP_R + OP_GAP
    cls = "pg-more" if node.more else "pg-node" if node.op else "pg-param" if node.folded or node.name else "pg-leaf"
    width = box_size(node)[0] - (2 * OP_R + OP_GAP if node.op else 0.0)
    parts.append(_svg.rect(x, y, width, BOX_H, cls))
    for k, field in enumerate(node.fields()):
        fw = field_width(field)
        if k:
            parts.append(f'<path d="M{x:.1f},{y:.1f}v{BOX_H:.0f}" stroke="#999"/>')
        extra = f'id="pg-g{i}"' if ids and field.startswith("grad ") else ""
        parts.append(_svg.label(x + PAD, y + BOX_H / 2 + 4, field, extra))
        x += fw
    parts.append("</g>")
    return "".join(parts)


def _tooltip(node: Node) -> str:
    v = node.value
    lines = [node.name or "(no label)", f"op: {node.op or 'leaf'}", f"data: {v.data!r}", f"grad: {v.grad!r}"]
    if node.folded:
        lines.append("folded leaves: " + ", ".join(node.folded[:20]) + (" ..." if len(node.folded) > 20 else ""))
    return "\n".join(lines)


class Graph:
    """What `pygrad.show` returns: a notebook shows it inline (`_repr_svg_`,
    `_repr_html_`); `save(path)` writes it (.svg, or .html for a page)."""

    def __init__(self, svg: str, nodes: int) -> None:
        self.svg = svg
        self.nodes = nodes     # the boxes drawn (a summary box counts as one)

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        # Scrolls inside the output cell rather than being shrunk to fit it.
        return f'<div style="max-width:100%;overflow:auto">{self.svg}</div>'

    def save(self, path: Any) -> str:
        """Write the drawing: an .html path gets a page around it, anything else the SVG."""
        p = str(path)
        page = p.lower().endswith((".html", ".htm"))
        with open(p, "w", encoding="utf-8") as f:
            f.write(f"<!DOCTYPE html><meta charset=utf-8><title>pygrad graph</title>{self.svg}\n"
                    if page else self.svg)
        return p


def show(obj: Any, module: Any = None, max_nodes: Optional[int] = 300, inputs: Any = None) -> Graph:
    """The graph below a Value, drawn as SVG in pure Python: data, grad, op
    and label per node. `show(model)` draws a module's forward pass over
    inputs x0, x1, ... (`inputs`: their number, or the Values, if it cannot
    tell); with `module=`, a Value's graph names that module's parameters
    (from `named_parameters()`). Past `max_nodes` Values the drawing
    collapses (see the module docstring); `max_nodes=None` draws everything."""
    if max_nodes is not None and (type(max_nodes) is not int or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None (no limit), not {max_nodes!r}")
    if not isinstance(obj, ValueBase):
        if not hasattr(obj, "named_parameters"):
            raise TypeError(f"show draws a pygrad Value or a module, not {type(obj).__name__}")
        module, (obj, inputs) = obj, module_output(obj, inputs)
    names = parameter_names(module)
    nodes = build(obj, names, max_nodes)
    return Graph(render(nodes), len(nodes))


def parameter_names(module: Any) -> Dict[Any, str]:
    if module is None:
        return {}
    if not hasattr(module, "named_parameters"):
        raise TypeError(f"module must have named_parameters(), not {type(module).__name__}")
    return {p: name for name, p in module.named_parameters()}


def module_output(module: Any, inputs: Any) -> Tuple[Any, List[Any]]:
    """The module called on labelled input leaves x0, x1, ...: its output
    (the first one, if it returns a list), and the inputs (on the C engine a
    label lives on the user's handle: the caller keeps them until drawn)."""
    from ._engines import value_class
    params = module.named_parameters()
    if inputs is None:
        inputs = _guess_nin(params)
    if isinstance(inputs, int):
        cls = type(params[0][1]) if params else value_class()
        inputs = [cls(0.0, label=f"x{i}") for i in range(inputs)]
    inputs = list(inputs)
    out = module(inputs)
    if isinstance(out, (list, tuple)):
        out = out[0]
    if not isinstance(out, ValueBase):
        raise TypeError(f"the module returned {type(out).__name__}, not a Value")
    return out, inputs


def _guess_nin(params: Sequence[Tuple[str, Any]]) -> int:
    """The input count of a micrograd-style model: its first neuron's weights,
    named like 'layers.0.neurons.0.w.0', 'layers.0.neurons.0.w.1', ..."""
    if params:
        first = params[0][0]
        stem, _, last = first.rpartition(".")
        if stem and last.isdigit():
            return sum(1 for name, _ in params if name.rpartition(".")[0] == stem)
    raise TypeError("show(module) cannot tell the module's number of inputs: pass inputs=N (or the input Values)")


def value_html(v: Any) -> str:
    """A Value in a notebook: its label, op, data and grad in a small table."""
    from html import escape
    cells = [("label", str(v.label) or "-"), ("op", v._op or "leaf"), ("data", repr(v.data)), ("grad", repr(v.grad))]
    row = "".join(f'<td style="padding:2px 8px"><b>{k}</b> {_svg.text(val)}</td>' for k, val in cells)
    return f'<table class="pygrad-value" title="{escape(type(v).__module__)}.Value"><tr>{row}</tr></table>'
