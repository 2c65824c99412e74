"""The graphs the workloads differentiate, each built once per engine from
the adapter (engines.py), so every engine gets the same arithmetic.

Each builder returns a Graph: the root, the leaves to hold on to, the node
count by construction (leaves included) and the depth, which engines with
a recursive backward (micrograd) need room for.
"""
import random
from dataclasses import dataclass
from functools import lru_cache


@dataclass
class Graph:
    root: object
    leaves: list
    nodes: int
    depth: int


def chain(eng, nodes):
    """acc = acc * a + b: two nodes per step, one long path (values stay bounded)."""
    steps = max(1, (nodes - 3) // 2)
    a, b, acc = eng.Value(0.999), eng.Value(0.001), eng.Value(1.0)
    for _ in range(steps):
        acc = acc * a + b
    return Graph(acc, [a, b], 3 + 2 * steps, 2 * steps + 1)


def wide(eng, terms):
    """One sum of `terms` leaves: a single fused node on pygrad, `sum()`'s chain elsewhere."""
    rng = random.Random(2)
    xs = [eng.Value(rng.uniform(-1, 1)) for _ in range(terms)]
    return Graph(eng.total(xs), xs, terms, terms + 1)


@lru_cache(maxsize=8)
def dag_plan(units, seed=1, window=None):
    """A seeded random DAG as index triples. Unit k combines the oldest of
    the `width` nodes not yet used by anyone (so every node ends up below
    the root, and the graph is about units/width units deep) with a node
    drawn uniformly from all earlier ones (shared subexpressions, random
    memory access: hostile to caches), or with window=W from the last W
    nodes only (the locality of real expression graphs, where an operand
    is mostly a recent result). A quarter of the units multiply, the rest average:
    values stay near 1 and gradients finite, far from denormals, whose slow
    arithmetic would time the FPU rather than the engine. Returns (leaf
    values, [(multiply?, i, j)], open node indices, longest path in nodes)."""
    rng = random.Random(seed)
    width = max(64, units // 256)
    leaves = [rng.uniform(0.5, 1.5) for _ in range(width)]
    ops, open_, depth = [], list(range(width)), [1] * width
    for k in range(units):
        mul, i = rng.random() < 0.25, open_[k]
        j = rng.randrange(width + k) if window is None else rng.randrange(max(0, width + k - window), width + k)
        ops.append((mul, i, j))
        open_.append(width + k)
        depth.append(max(depth[i], depth[j]) + (1 if mul else 2))
    return leaves, ops, open_[units:], max(depth)


def random_dag(eng, nodes, seed=1, window=None):
    """Units a*b (one node) and (a + b) * half (two; `half` one shared leaf),
    within micrograd's ops. The root sums the nodes nobody used; the node
    count (leaves included) leaves that sum out."""
    leaves, ops, open_, depth = dag_plan(max(1, int(nodes / 1.75)), seed, window)
    half = eng.Value(0.5)
    vals = [eng.Value(x) for x in leaves]
    count = len(leaves) + 1
    for mul, i, j in ops:
        vals.append(vals[i] * vals[j] if mul else (vals[i] + vals[j]) * half)
        count += 1 if mul else 2
    root = eng.total([vals[i] for i in open_])
    return Graph(root, vals[:len(leaves)] + [half], count, depth + len(open_) + 1)


LOCAL_WINDOW = 64


def random_dag_local(eng, nodes, seed=1):
    """The random DAG with each second operand among the last 64 nodes."""
    return random_dag(eng, nodes, seed, window=LOCAL_WINDOW)


MLP_SHAPE = (2, [16, 16, 1])


def mlp_nodes(nin, nouts, batch):
    """Nodes of micrograd's (unfused) graph for `mlp_batch`: the common count
    that makes ns/node comparable when pygrad fuses a neuron into one node."""
    sizes = [nin] + nouts
    params = sum((sizes[i] + 1) * sizes[i + 1] for i in range(len(nouts)))
    per_sample = nin + 5                      # inputs; 1 + -y*score, relu
    for i in range(len(nouts)):
        nonlin = i != len(nouts) - 1
        per_sample += sizes[i + 1] * (2 * sizes[i] + nonlin)
    return params + batch * (per_sample + 1) + 1     # + sum(): one add per sample, Value(0)


def mlp_batch(eng, nodes, seed=3):
    """A hinge loss over a batch through MLP(2, [16, 16, 1]), batch sized to ~nodes."""
    nin, nouts = MLP_SHAPE
    batch = max(1, nodes // (mlp_nodes(nin, nouts, 2) - mlp_nodes(nin, nouts, 1)))
    random.seed(seed)                         # micrograd's MLP draws from `random`
    model = eng.MLP(nin, nouts)
    rng = random.Random(seed)
    losses = []
    for _ in range(batch):
        x = [eng.Value(rng.uniform(-2, 2)) for _ in range(nin)]
        y = rng.choice((-1.0, 1.0))
        losses.append((1 + -y * model(x)).relu())
    root = eng.total(losses)
    return Graph(root, model.parameters(), mlp_nodes(nin, nouts, batch), batch + 128)


def make_moons(n_samples=100, noise=0.1, seed=1337):
    """sklearn's make_moons with numpy only; labels -1/+1 as in micrograd's demo."""
    import numpy as np
    rng = np.random.RandomState(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    X = np.vstack([np.append(np.cos(t_out), 1 - np.cos(t_in)),
                   np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)]).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    order = rng.permutation(n_samples)
    X, y = X[order], y[order]
    X += rng.normal(scale=noise, size=X.shape)
    return X, y * 2 - 1
