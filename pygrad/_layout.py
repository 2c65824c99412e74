"""A layered layout for a DAG, in pure Python (no Graphviz).

The Sugiyama scheme, kept small: nodes go into layers by their longest path
from the root (the root in layer 0, every node one layer past its deepest
consumer, so edges all point one way), then the nodes of each layer are
ordered by the barycentre of their neighbours' positions, sweeping down and
up a few times, which removes most edge crossings. Coordinates follow: one
column per layer (the root's on the right, as micrograd draws), nodes
stacked in their order, each column centred.

The graph is given as node numbers 0..n-1 (0 the root) and, per node, the
numbers of its inputs; sizes are (width, height) per node. It is all
linear in nodes plus edges per sweep: 500 nodes lay out in milliseconds.
"""
from typing import List, Sequence, Tuple

SWEEPS = 7          # down, up, ..., down: crossings stop improving after a few; a tree ends uncrossed
COLUMN_GAP = 60.0   # room for the edges between two columns
ROW_GAP = 14.0


def layers_by_longest_path(inputs: Sequence[Sequence[int]]) -> List[int]:
    """layer[v] = the longest path from node 0 to v (edges consumer -> input)."""
    n = len(inputs)
    layer = [0] * n
    for v in _consumers_first(inputs):
        for k in inputs[v]:
            if layer[k] < layer[v] + 1:
                layer[k] = layer[v] + 1
    return layer


def _consumers_first(inputs: Sequence[Sequence[int]]) -> List[int]:
    """Nodes reachable from 0, each before all of its inputs (a reversed
    post-order, iterative so deep graphs do not hit the recursion limit)."""
    post, seen = [], {0}
    stack = [(0, iter(inputs[0]))]
    while stack:
        v, rest = stack[-1]
        for k in rest:
            if k not in seen:
                seen.add(k)
                stack.append((k, iter(inputs[k])))
                break
        else:
            stack.pop()
            post.append(v)
    post.reverse()
    return post


def order_layers(inputs: Sequence[Sequence[int]], layer: Sequence[int]) -> List[List[int]]:
    """The nodes of each layer, ordered to reduce crossings (barycentric)."""
    rows: List[List[int]] = [[] for _ in range(max(layer) + 1)]
    for v in range(len(inputs)):   # first order: node numbers (the walk's order)
        rows[layer[v]].append(v)
    consumers: List[List[int]] = [[] for _ in inputs]
    for v, ks in enumerate(inputs):
        for k in ks:
            consumers[k].append(v)
    pos = _positions(rows, len(inputs))
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0     # down: place by consumers (layers nearer the root)
        neighbours = consumers if down else inputs
        for row in (rows[1:] if down else reversed(rows[:-1])):
            row.sort(key=lambda v: _barycentre(neighbours[v], pos, pos[v]))
            for i, v in enumerate(row):
                pos[v] = (i + 0.5) / len(row)
    return rows


def _positions(rows: List[List[int]], n: int) -> List[float]:
    # A position in [0, 1] within its layer, so layers of different sizes compare.
    pos = [0.0] * n
    for row in rows:
        for i, v in enumerate(row):
            pos[v] = (i + 0.5) / len(row)
    return pos


def _barycentre(neighbours: Sequence[int], pos: Sequence[float], own: float) -> float:
    if not neighbours:
        return own                # nothing to follow: keep its place
    return sum(pos[k] for k in neighbours) / len(neighbours)


def layout(inputs: Sequence[Sequence[int]], sizes: Sequence[Tuple[float, float]]
           ) -> Tuple[List[Tuple[float, float]], Tuple[float, float]]:
    """Top-left corners per node, and the drawing's (width, height)."""
    layer = layers_by_longest_path(inputs)
    rows = order_layers(inputs, layer)
    widths = [max(sizes[v][0] for v in row) for row in rows]
    heights = [sum(sizes[v][1] for v in row) + ROW_GAP * (len(row) - 1) for row in rows]
    total_w = sum(widths) + COLUMN_GAP * (len(rows) - 1)
    total_h = max(heights)
    corners = [(0.0, 0.0)] * len(inputs)
    x = total_w
    for row, w, h in zip(rows, widths, heights):
        x -= w                              # layer 0 (the root) is the rightmost column
        y = (total_h - h) / 2
        for v in row:
            vw, vh = sizes[v]
            corners[v] = (x + (w - vw), y)  # right-aligned: edges leave from the right
            y += vh + ROW_GAP
        x -= COLUMN_GAP
    return corners, (total_w, total_h)
