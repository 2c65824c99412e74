"""The reference engine's compiled mode: the recorded graph, re-run per row.

The simple rule, in plain Python: keep a private copy of the graph (so the
user's nodes are never written to), and for each row set the inputs, recompute
every node in topological order with the op table's forward rules, and, for
`accumulate`, run the ordinary reference backward sweep from `scale`. The
C core's program (csrc/program.c) must give these numbers bit for bit.
"""
import sys
from typing import Any, Dict, List

from ._errors import in_row
from ._ops import CUSTOM, HOOK, LEAF
from ._trace import GE, GT, LE, LT, GuardFailed, iter_sides
from .reference import BACKWARD_LOCK, Value, canonical, evaluate, topological_order


def _copy_leaf(v: Any) -> Any:
    return Value(v._data)


def _copy_op(v: Any, children: tuple) -> Any:
    # Built directly, not through an operator: no_grad must not apply here.
    node = Value.__new__(Value)
    node._data, node._grad, node._opcode, node._children = v._data, 0.0, v._opcode, children
    return node


class Replay:
    """A private copy of the graph below `root`. Params and constants are the
    user's live leaves: their data is read at each run; params' grads are
    written back at the end of an `accumulate` run, only if every row succeeds."""

    def __init__(self, root: Any, inputs: List[Any], params: List[Any], guards: tuple = (),
                 exact: bool = True, trace: Any = None) -> None:
        # exact=False allows reordered sums; a replay has nothing to gain from them: it stays exact.
        copies: Dict[int, Any] = {}
        self.inputs = [copies.setdefault(id(v), _copy_leaf(v)) for v in inputs]
        self.params = [(p, copies.setdefault(id(p), _copy_leaf(p))) for p in params]
        self.constants = []
        order = topological_order(root)
        # The guards' sides may lie outside the root's graph: computed after it, never differentiated.
        sides = _order_beyond(order, list(iter_sides(list(guards))))
        customs = {id(c.node): c for c in trace.customs} if trace is not None else {}
        forward = _place_sides(order, sides, customs, root, trace)
        self._parents: Dict[int, int] = {}   # leaf -> references from graph nodes, for strict
        for v in [root] + [k for node in order for k in node._children]:
            self._parents[id(v)] = self._parents.get(id(v), 0) + (v is not root)
        for v in [root] + [k for node in forward for k in _needs(node, customs)] + list(iter_sides(list(guards))):
            if v._opcode == LEAF and id(v) not in copies:
                copies[id(v)] = _copy_leaf(v)
                self.constants.append((v, copies[id(v)]))
        for node in forward:
            copy = copies[id(node)] = _copy_op(node, tuple(copies[id(k)] for k in node._children))
            if id(node) in customs:   # recomputed from its data and local gradients
                c = customs[id(node)]
                copy._sides = (copies[id(c.data)], [copies[id(g)] for g in c.local_grads])
        self.root = copies[id(root)]
        self.order = [copies[id(node)] for node in order]      # what backward runs
        self.forward = [copies[id(node)] for node in forward]  # what forward runs
        self.guards = [(g.cmp, copies[id(g.a)], None if g.b is None else copies[id(g.b)], g.c, g.outcome)
                       for g in guards]

    def depends(self) -> bool:
        """Whether the root's value depends on an input or a param."""
        sources = {id(v) for v in self.inputs} | {id(c) for _, c in self.params}
        seen: Dict[int, bool] = {}
        for node in self.forward:
            needs = list(node._children) + (_side_list(node) if node._opcode == CUSTOM else [])
            seen[id(node)] = any(id(k) in sources or seen.get(id(k), False) for k in needs)
        return id(self.root) in sources or seen.get(id(self.root), False)

    def __len__(self) -> int:
        return len(self.forward)

    def held_constants(self) -> List[Any]:
        """Constants that something outside the graph holds (see compile's strict):
        more references than their parents in the graph give them."""
        if not hasattr(sys, "getrefcount"):
            raise NotImplementedError("compile(strict=True) on the reference engine needs "
                                      "CPython's reference counts; use the C engine")
        # What counting costs, measured on a leaf that only a tuple like ours holds.
        probe = (Value(0.0), None)
        ours = sys.getrefcount(probe[0])
        return [pair[0] for pair in self.constants
                if sys.getrefcount(pair[0]) - ours > self._parents.get(id(pair[0]), 0)]

    def run(self, batch: Any, out: Any, backward: bool, scale: float, row0: int = 0) -> None:
        """batch: an (n, ninputs) numpy array; out[r] receives row r's value;
        row0: the first row's number in the caller's batch (for messages)."""
        out[:] = self._run(batch.tolist(), backward, scale, row0)

    run_arrays = run   # Program's own arrays: nothing more to check here

    def run_row(self, row: List[float], backward: bool, scale: float) -> float:
        return self._run([row], backward, scale)[0]

    def _run(self, rows: List[List[float]], backward: bool, scale: float, row0: int = 0) -> List[float]:
        with BACKWARD_LOCK:
            for real, copy in self.constants + self.params:
                copy._data = real._data
            for real, copy in self.params:
                copy._grad = real._grad
            values = []
            for r, row in enumerate(rows):
                values.append(self._forward_row(r, row, row0))
                if backward:
                    self._backward_row(scale)
            if backward:
                for real, copy in self.params:
                    real._grad = copy._grad
            return values

    def _forward_row(self, r: int, row: List[float], row0: int) -> float:
        for leaf, x in zip(self.inputs, row):
            leaf._data = x
        error = None
        for node in self.forward:
            try:
                if node._opcode == CUSTOM:   # a user's op: its data's value, its local gradients'
                    data, local = node._sides
                    node._data, node._custom = data._data, [g._data for g in local]
                    continue
                node._data = evaluate(node._opcode, [k._data for k in node._children])
            except (ArithmeticError, ValueError, IndexError) as exc:
                error = error or exc
                if not self.guards:
                    break
        # A row whose guard fails belongs to another branch, where eager would
        # not have met the error: the guard is what it reports (as in C).
        for i, (cmp, a, b, c, outcome) in enumerate(self.guards):
            if _COMPARE[cmp](a._data, c if b is None else b._data) != outcome:
                raise GuardFailed(r, i)   # nothing written back yet: no grad changes
        if error is not None:
            raise in_row(error, row0 + r) from None
        return canonical(self.root._data)

    def _backward_row(self, scale: float) -> None:
        """One row's backward, as eager `(scale * root).backward()` does it."""
        for node in self.order:
            node._grad = 0.0
        if self.order:
            self.root._grad = scale
        else:                      # the root is a leaf: it accumulates
            self.root._grad += scale
        for node in reversed(self.order):
            node._step()


_COMPARE = {LT: lambda a, b: a < b, LE: lambda a, b: a <= b, GT: lambda a, b: a > b, GE: lambda a, b: a >= b}


def _needs(node: Any, customs: Dict[int, Any]) -> List[Any]:
    """What node needs computed before it: its children, and for a user's
    op a trace recorded, its data and local gradients."""
    c = customs.get(id(node))
    return list(node._children) + ([c.data, *c.local_grads] if c is not None else [])


def _side_list(copy: Any) -> List[Any]:
    data, local = copy._sides
    return [data, *local]


def _place_sides(order: List[Any], beyond: List[Any], customs: Dict[int, Any], root: Any, trace: Any) -> List[Any]:
    """order (the root's graph, children first) then beyond, with every
    recorded user's op's data and local gradients computed just before it.
    The graph's own nodes keep their places, as backward's order needs
    (csrc/sides.c does the same); an op no trace recorded, or a side that
    needs a node of the graph placed after its op, is refused."""
    from .compiled import custom_op_error
    in_root = {id(n) for n in order}
    placed: set = set()
    forward: List[Any] = []
    for start in order + beyond:
        if id(start) in placed:
            continue
        stack = [(start, iter(_needs(start, customs)))]
        while stack:
            node, needs = stack[-1]
            for k in needs:
                if not k._children or id(k) in placed:
                    continue
                if id(k) in in_root:
                    raise custom_op_error(root, trace, order_conflict=True)
                stack.append((k, iter(_needs(k, customs))))
                break
            else:
                stack.pop()
                if node._opcode in (CUSTOM, HOOK) and id(node) not in customs:
                    raise custom_op_error(root, trace)
                placed.add(id(node))
                forward.append(node)
    return forward


def _order_beyond(order: List[Any], roots: List[Any]) -> List[Any]:
    """The op nodes below `roots` that `order` does not list, children first."""
    seen = set(map(id, order))
    extra: List[Any] = []
    for r in roots:
        for node in topological_order(r):
            if id(node) not in seen:
                seen.add(id(node))
                extra.append(node)
    return extra
