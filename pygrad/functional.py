"""Gradients as Values: `grad`, `backward(create_graph=True)`, `hvp`, `hessian`, `jvp`.

With `create_graph=True` the reverse sweep builds the gradient out of ops,
so the gradient is a Value whose graph can be differentiated again, to any
order. The sweep reads each op's local derivatives from the same rules the
numeric sweep uses (pygrad.reference's RULES, written to work on numbers
and on Values alike): there is no second derivative table. It visits the
nodes in backward's order and adds each contribution `local * grad` in
backward's order, so the gradient's value equals backward's number bit for
bit, on both engines (the C engine's ops build the graph in C; the sweep
that calls them is this Python loop).
"""
import math
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import _ops, _trace
from ._api import ValueBase, as_value
from ._engines import value_class
from ._errors import ECUSTOM, ENOGRAPH, error
from .grad_mode import set_grad_enabled
from .reference import RULES, select_index, topological_order

__all__ = ["grad", "hvp", "hessian", "jvp"]

_RULES = {_ops.CODES[name]: rule[1] for name, rule in RULES.items()}


def _order(roots: Sequence[Any]) -> List[Any]:
    """Op nodes below roots, each after its children: backward's order (the
    reference engine's depth-first sort) for each root, a node listed once."""
    if len(roots) == 1:
        return topological_order(roots[0])
    seen, topo = set(), []
    for root in roots:
        for node in topological_order(root):
            if node not in seen:
                seen.add(node)
                topo.append(node)
    return topo


def _locals(node: Any) -> Sequence[Optional[Any]]:
    """d node / d child, per child, as Values or numbers (None: no gradient)."""
    code, kids = node._opcode, node._children
    if code == _ops.SUM:
        return (1.0,) * len(kids)
    if code == _ops.DOT:
        m = len(kids) // 2
        return tuple(kids[m:2 * m]) + tuple(kids[:m]) + (1.0,)
    if code == _ops.SELECT:
        index = kids[0].data
        chosen = 1 + select_index(index, len(kids) - 1)
        _ = kids[0] >= index and kids[0] <= index   # inside a trace: guards on the index
        return tuple(1.0 if i == chosen else None for i in range(len(kids)))
    if code == _ops.MAXDATA:
        return (None,) * len(kids)
    if code == _ops.CUSTOM and hasattr(node, "_custom"):   # microgpt's numbers (the reference engine)
        return tuple(node._custom)
    if code in (_ops.CUSTOM, _ops.HOOK):
        raise error(ECUSTOM, "create_graph")
    if code not in _RULES:
        raise TypeError(f"create_graph: the op {_ops.label(code)!r} has no derivative written as ops")
    if code == _ops.POWK:                       # the exponent is a number, not a child to differentiate
        return _RULES[code](kids[0], kids[1].data, node)
    return _RULES[code](kids[0], kids[1] if len(kids) > 1 else 0.0, node)


def _add(acc: Any, term: Any) -> Any:
    """acc + term as backward's `grad += term` adds it, starting from 0.0."""
    if acc is None:   # 0.0 + term: term itself, except that -0.0 becomes 0.0
        t = term.data if isinstance(term, ValueBase) else term
        return term + 0.0 if t == 0.0 and math.copysign(1.0, t) < 0 else term
    return acc + term


def _sweep(outputs: Sequence[Any], seeds: Sequence[Any]) -> Dict[Any, Any]:
    """Every node's gradient as a Value (or number), by a graph-building reverse sweep."""
    grads: Dict[Any, Any] = {}
    for out, seed in zip(outputs, seeds):
        grads[out] = seed if out not in grads else grads[out] + seed
    for node in reversed(_order(outputs)):
        g = grads.get(node)
        if g is None:
            continue
        for child, d in zip(node._children, _locals(node)):
            if d is None:
                continue
            term = g if (type(d) is float and d == 1.0) else d * g   # 1.0 * g is g, bit for bit
            grads[child] = _add(grads.get(child), term)
    return grads


def _native_sweep(V: type) -> Any:
    """The C engine's sweeps (graph-building, numeric), for its Values (else None)."""
    from ._engines import cengine_or_none
    cengine = cengine_or_none()
    if cengine is None or not issubclass(V, cengine.Value):
        return None
    if _trace.current() is not None:
        # compile_fn is tracing: the Python sweep's comparisons (relu's and
        # abs's masks, pow's zero tests, select's index) become guards; the
        # C sweep would freeze them.
        return None
    return cengine._grad_graph, cengine._grad_numbers


def _gradients(outputs: Sequence[Any], inputs: Sequence[Any], grad_outputs: Optional[Sequence[Any]],
               create_graph: bool, allow_unused: bool) -> List[Any]:
    V = type(outputs[0])
    for out in outputs:
        if getattr(out, "_no_graph", False):   # the reference engine's mark (the C core checks its own)
            raise error(ENOGRAPH, "grad")
    seeds = [1.0] * len(outputs) if grad_outputs is None else list(grad_outputs)
    if len(seeds) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(seeds)} grad_outputs")
    seeds = [as_value(V, s) if isinstance(s, ValueBase) else float(s) for s in seeds]
    native = _native_sweep(V)
    was = set_grad_enabled(create_graph)
    try:
        if native is not None and not create_graph and not any(isinstance(s, ValueBase) for s in seeds):
            return [V(g) for g in native[1](list(outputs), seeds, list(inputs))]   # the numbers, in C
        if native is not None and len(outputs) == 1:   # the sweep in C: one output, its seed
            seed = seeds[0]
            if not isinstance(seed, ValueBase) and seed != 1.0:
                seed = V(seed)
            return native[0](outputs[0], seed if isinstance(seed, ValueBase) else None, list(inputs))
        grads = _sweep(outputs, seeds)
    finally:
        set_grad_enabled(was)
    result = []
    for v in inputs:
        g = grads.get(v)
        if g is None:
            if not allow_unused and not any(v is o for o in outputs):
                pass   # an input the outputs do not depend on: its gradient is 0
            g = 0.0
        result.append(g if isinstance(g, ValueBase) else V(g))
    return result


def _numbers(ys: List[Any], seeds: List[float], xs: List[Any]) -> List[float]:
    """d (sum seeds[i] * ys[i]) / d xs as floats (no Value per result:
    hvp, hessian, jvp)."""
    native = _native_sweep(type(ys[0]))
    if native is not None:
        return native[1](ys, seeds, xs)
    return [g.data for g in _gradients(ys, xs, seeds, False, True)]


def _as_list(x: Any) -> List[Any]:
    return [x] if isinstance(x, ValueBase) else list(x)


def grad(outputs: Any, inputs: Any = None, grad_outputs: Any = None, create_graph: bool = False,
         allow_unused: bool = True) -> Any:
    """d outputs / d inputs, as torch.autograd.grad, or a gradient function.

    `pygrad.grad(y, [x1, x2])` returns [dy/dx1, dy/dx2] as Values, leaving
    every `.grad` untouched. With several outputs (a list), their gradients
    add up, each weighted by `grad_outputs` (default 1). With
    `create_graph=True` the results are Values built from ops, so they can
    be differentiated again (`pygrad.grad(g, [x], create_graph=True)` gives a
    second derivative); otherwise they are leaves holding the numbers. An
    input the outputs do not depend on gets 0.

    `pygrad.grad(f)` with a function returns a function of numbers or
    Values that gives f's gradient with respect to each argument, as Values
    whose graph can be differentiated again (as `jax.grad`)."""
    if callable(outputs) and not isinstance(outputs, ValueBase):
        return _grad_function(outputs)
    if inputs is None:
        raise TypeError("grad(outputs, inputs): inputs are needed (or pass a function: grad(f))")
    outs, ins = _as_list(outputs), _as_list(inputs)
    if not outs:
        raise ValueError("grad: no outputs")
    V = type(outs[0])
    for v in outs + ins:
        if not isinstance(v, ValueBase):
            raise TypeError(f"grad: outputs and inputs must be Values, not {type(v).__name__}")
        if not isinstance(v, V) and not isinstance(outs[0], type(v)):
            raise TypeError("grad: outputs and inputs must belong to one engine")
    gs = _gradients(outs, ins, None if grad_outputs is None else _as_list(grad_outputs), create_graph,
                    allow_unused)
    return gs if not isinstance(inputs, ValueBase) else gs[0]


def _values(xs: Any) -> List[Any]:
    V = next((type(x) for x in xs if isinstance(x, ValueBase)), None) or value_class()
    return [as_value(V, x) for x in xs]


def _grad_function(f: Callable[..., Any]) -> Callable[..., Any]:
    def gradient(*args: Any) -> Any:
        xs = _values(args)
        was = set_grad_enabled(True)
        try:
            y = f(*xs)
        finally:
            set_grad_enabled(was)
        gs = grad(y, xs, create_graph=True)
        return gs[0] if len(gs) == 1 else gs
    gradient.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    gradient.__doc__ = f"The gradient of {getattr(f, '__name__', 'f')} with respect to each argument."
    return gradient


def _call(f: Callable[..., Any], xs: List[Any]) -> Any:
    was = set_grad_enabled(True)
    try:
        return f(*xs)
    finally:
        set_grad_enabled(was)


def hvp(f: Callable[..., Any], xs: Sequence[Any], vs: Sequence[Any]) -> List[float]:
    """The Hessian of f at xs times the vector vs, as floats: reverse over
    reverse (one gradient graph, then the gradient of <grad, v>)."""
    xs = _values(xs)
    if len(vs) != len(xs):
        raise ValueError(f"hvp: {len(xs)} inputs but {len(vs)} vector entries")
    y = _call(f, xs)
    gs = grad(y, xs, create_graph=True)
    # d <grad, v> / d xs: one reverse sweep over the gradient's graph,
    # seeded with v (as torch's grad_outputs), with no node for the dot.
    return _numbers(gs, [float(v) for v in vs], xs)


def hessian(f: Callable[..., Any], xs: Sequence[Any]) -> List[List[float]]:
    """The Hessian matrix of f at xs (small inputs: one gradient per row)."""
    xs = _values(xs)
    gs = grad(_call(f, xs), xs, create_graph=True)
    rows = []
    for g in gs:
        if g._opcode == _ops.LEAF:       # a constant gradient: its row is 0
            rows.append([0.0] * len(xs))
        else:
            rows.append(_numbers([g], [1.0], xs))
    return rows


def jvp(f: Callable[..., Any], xs: Sequence[Any], vs: Sequence[Any]) -> Any:
    """(f(xs), the directional derivative of f at xs along vs), as floats
    (by reverse mode: f has one output, so <grad f, v>)."""
    xs = _values(xs)
    y = _call(f, xs)
    return y.data, math.fsum(g * float(v) for g, v in zip(_numbers([y], [1.0], xs), vs))


def backward_graph(root: Any) -> None:
    """root.backward(create_graph=True): backward's numbers added into every
    `.grad` (the ordinary sweep, so they are backward's bits), and each leaf's
    gradient of this root as a Value in `leaf.grad_value`, differentiable again."""
    root.backward()
    was = set_grad_enabled(True)
    try:
        grads = _sweep([root], [1.0])
    finally:
        set_grad_enabled(was)
    V = type(root)
    for node, g in grads.items():
        if node._opcode == _ops.LEAF:
            node._grad_value = g if isinstance(g, ValueBase) else V(g)
