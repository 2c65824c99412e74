"""A recording `Value`: the benchmark's own graph builders (graphs.py) run
on it and leave behind the graph as flat arrays (op, child a, child b,
value), which the backward floor copies into its node array.

It is an engine adapter like those of engines.py, shaped like micrograd:
one node per op, numbers become constant leaves, `sum()` is Python's
(a chain of adds), and the MLP is micrograd's (tinynn) over it. So the
floor differentiates, op for op, the graph that micrograd does, and the
graph that pygrad does except where pygrad fuses nodes; the node counts
that the workloads divide by are the same for every engine.
"""
import builtins
from array import array

LEAF, ADD, MUL, RELU = 0, 1, 2, 3     # enum in backward.c


class Tape:
    """The recorded graph: node i is (op[i], a[i], b[i], data[i]); children
    come before their parents, leaves have a = b = -1, unary ops b = -1."""

    def __init__(self):
        self.op, self.a, self.b = array("i"), array("i"), array("i")
        self.data = array("d")

    def __len__(self):
        return len(self.op)

    def node(self, op, a, b, data):
        self.op.append(op)
        self.a.append(a)
        self.b.append(b)
        self.data.append(data)
        return Node(self, len(self.op) - 1, data)

    def leaf(self, x):
        return self.node(LEAF, -1, -1, float(x))


class Node:
    __slots__ = ("tape", "i", "data")

    def __init__(self, tape, i, data):
        self.tape, self.i, self.data = tape, i, data

    def _node(self, other):
        return other if isinstance(other, Node) else self.tape.leaf(other)

    def __add__(self, other):
        other = self._node(other)
        return self.tape.node(ADD, self.i, other.i, self.data + other.data)

    def __radd__(self, other):              # other + self: the constant is the first child
        return self._node(other) + self

    def __mul__(self, other):
        other = self._node(other)
        return self.tape.node(MUL, self.i, other.i, self.data * other.data)

    def __rmul__(self, other):
        return self._node(other) * self

    def relu(self):
        return self.tape.node(RELU, self.i, -1, 0.0 if self.data < 0 else self.data)


def engine(tape):
    """An engines.Engine whose graphs are recorded on `tape`."""
    from ..engines import Engine
    from ..tinynn import make_mlp
    return Engine("floor", tape.leaf, make_mlp(tape.leaf), builtins.sum)
