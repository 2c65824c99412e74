"""The reference engine's compiled mode: a pure-Python replay of a graph.

The same program as the C core's (csrc/program.c), in plain Python and in
the same order, so its numbers are the specification of compiled runs:
slots hold the leaves (inputs, then params, then constants) and then every
op node in topological order, with children renamed to slot indices.
"""
from typing import Any, Dict, List

from ._errors import EDOMAIN, EINVAL, EOVERFLOW, EZERODIV, error
from ._ops import LEAF
from .reference import BACKWARD_LOCK, evaluate, local_derivatives, topological_order

_STATUS = {ZeroDivisionError: EZERODIV, OverflowError: EOVERFLOW, ValueError: EDOMAIN}


class Program:

    def __init__(self, root, inputs, params):
        self.leaves: List[Any] = []
        slot_of: Dict[Any, int] = {}

        def add_leaf(v, must_be_new):
            if v in slot_of:
                if must_be_new:
                    raise error(EINVAL, "compile")
                return
            if v._opcode != LEAF:
                raise error(EINVAL, "compile")
            slot_of[v] = len(self.leaves)
            self.leaves.append(v)

        ops = topological_order(root)
        for v in list(inputs) + list(params):
            add_leaf(v, True)
        for node in ops:
            for kid in node._children:
                if kid._opcode == LEAF:
                    add_leaf(kid, False)
        if root._opcode == LEAF:
            add_leaf(root, False)
        self.ninputs, self.nparams = len(inputs), len(params)
        first = len(self.leaves)
        for i, node in enumerate(ops):
            slot_of[node] = first + i
        # one instruction per op: (op code, child slots)
        self.code = [(n._opcode, tuple(slot_of[k] for k in n._children)) for n in ops]
        self.root = slot_of[root]

    def __len__(self):
        return len(self.code)

    def run(self, batch, out, backward, scale):
        """Fill out[r] with the root's value for each row of batch; with
        backward, add scale * d root / d param, summed over rows, to each
        param's grad."""
        with BACKWARD_LOCK:
            self._run(batch.tolist(), out, backward, scale)

    def _run(self, rows, out, backward, scale):
        nleaves = len(self.leaves)
        value = [leaf._data for leaf in self.leaves] + [0.0] * len(self.code)
        # Param slots accumulate over the rows, from the params' grads now;
        # they are written back only if every row succeeds.
        grad = [leaf._grad for leaf in self.leaves] + [0.0] * len(self.code)
        for r, row in enumerate(rows):
            value[:self.ninputs] = row
            try:
                for i, (op, kids) in enumerate(self.code):
                    value[nleaves + i] = evaluate(op, tuple(value[k] for k in kids))
            except (ZeroDivisionError, OverflowError, ValueError) as exc:
                raise error(_STATUS[type(exc)], f"row {r}") from None
            out[r] = value[self.root]
            if backward:
                self._backward_row(value, grad, scale)
        if backward:
            params = self.leaves[self.ninputs:self.ninputs + self.nparams]
            for slot, leaf in enumerate(params, start=self.ninputs):
                leaf._grad = grad[slot]

    def _backward_row(self, value, grad, scale):
        """One row's backward, as eager `(scale * root).backward()` does it."""
        nleaves = len(self.leaves)
        grad[nleaves:] = [0.0] * len(self.code)
        if self.root < nleaves:
            grad[self.root] += scale
        else:
            grad[self.root] = scale
        for i in reversed(range(len(self.code))):
            op, kids = self.code[i]
            g = grad[nleaves + i]
            for kid, d in zip(kids, local_derivatives(op, tuple(value[k] for k in kids), value[nleaves + i])):
                grad[kid] += d * g
