"""The workloads. Each is `run(ctx) -> [rows]` (harness.row), timing every
engine on the same graph or program, and checking as it goes that they
computed the same numbers (the floor's gradients and losses: bitwise)."""
import math
import os
import random
import runpy
from dataclasses import dataclass
from functools import partial

from .floor import Graph, Tape, trainer
from .harness import alternate, now, recursion_room, row, rows, since
from .microgpt_value import MicrogptValue, adam_loop

try:
    import tracemalloc
except ImportError:          # PyPy has none: only the C core's bytes are counted there
    tracemalloc = None

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
QUICK = {"reps": 3, "eager_ops": 10_000, "graph_nodes": 10_000, "train_steps": 1, "compiled_steps": 3,
         "memory_nodes": 30_000, "scaling_sizes": (1_000, 10_000, 100_000), "microgpt_steps": 1}
FULL = {"reps": 5, "eager_ops": 100_000, "graph_nodes": 1_000_000, "train_steps": 5, "compiled_steps": 50,
        "memory_nodes": 1_000_000, "scaling_sizes": (1_000, 10_000, 100_000, 1_000_000), "microgpt_steps": 5}


@dataclass
class Context:
    engines: list          # harness.Engine, loaded
    floor: object          # the compiled floor module, or None
    cfg: dict              # QUICK or FULL, maybe with other reps
    cpp: str = None        # a C++ microgpt executable (--cpp)
    microgpt_data: str = None   # --microgpt-data: a file, or "names"
    tick: object = None    # progress: tick() after each round of samples, tick(what) after other long steps

    def pygrad(self):
        return [e for e in self.engines if e.name in ("c", "python")]


# -- the graphs ------------------------------------------------------------------


def chain(V, nodes):
    """acc = acc * a + b: two nodes per step, one long path. (root, leaves, nodes, depth)"""
    steps = max(1, (nodes - 3) // 2)
    a, b, acc = V(0.999), V(0.001), V(1.0)
    for _ in range(steps):
        acc = acc * a + b
    return acc, [a, b], 3 + 2 * steps, 2 * steps + 1


def random_dag(V, nodes, seed=1):
    """A seeded random DAG: unit k combines the oldest node nobody has used
    yet with one drawn uniformly from all earlier nodes (shared
    subexpressions, random memory access). A quarter of the units multiply
    (one node), the rest average, (a + b) * half (two), so values stay near
    1, far from slow denormals. The root is Python's sum of the unused nodes."""
    rng = random.Random(seed)
    units = max(1, int(nodes / 1.75))     # 1.75 nodes per unit
    width = max(64, units // 256)
    half, vals = V(0.5), [V(rng.uniform(0.5, 1.5)) for _ in range(width)]
    leaves, count, depth = vals[:] + [half], width + 1, [1] * width
    for k in range(units):
        mul, i, j = rng.random() < 0.25, k, rng.randrange(width + k)
        vals.append(vals[i] * vals[j] if mul else (vals[i] + vals[j]) * half)
        depth.append(max(depth[i], depth[j]) + (1 if mul else 2))
        count += 1 if mul else 2
    unused = vals[units:]
    return sum(unused), leaves, count + len(unused) + 1, max(depth) + len(unused) + 1


def make_moons(n=100, noise=0.1, seed=1337):
    """Two interleaving half circles, labels -1 / +1, as in micrograd's demo."""
    rng = random.Random(seed)
    X, y = [], []
    for i in range(n):
        t = math.pi * (i // 2) / (n // 2)
        x0, x1 = (math.cos(t), math.sin(t)) if i % 2 else (1 - math.cos(t), 0.5 - math.sin(t))
        X.append([x0 + rng.gauss(0, noise), x1 + rng.gauss(0, noise)])
        y.append(1.0 if i % 2 else -1.0)
    return X, y


# -- eager forward -----------------------------------------------------------------


def eager_forward(ctx):
    """Building the chain, acc = acc * a + b, through Python operators: ns per op."""
    def sampler(V):
        def sample():
            t0 = now()
            graph = chain(V, ctx.cfg["eager_ops"])
            return since(t0, graph[2] - 3, 1e9)      # two ops per step, three leaves
        return sample
    samples, notes = alternate({e.name: sampler(e.Value) for e in ctx.engines}, ctx.cfg["reps"], tick=ctx.tick)
    return rows("eager_forward", "ns/op", samples, notes, ref="c", size=ctx.cfg["eager_ops"], mode="eager")


# -- backward --------------------------------------------------------------------


def _backward(ctx, workload, build):
    """One `root.backward()` per sample on a graph built once per engine,
    ns per node. After the first backward, pygrad's leaf gradients are
    compared with the floor's on the same graph: bitwise."""
    size, runs, notes, grads = ctx.cfg["graph_nodes"], {}, {}, {}
    for e in ctx.engines + ([None] if ctx.floor is not None else []):
        name = e.name if e else "floor"
        try:
            if e is None:                  # the floor differentiates the graph recorded on a tape
                tape = Tape()
                root, leaves, nodes, depth = build(tape.leaf, size)
                graph = Graph(ctx.floor, tape)
                backward, grad = graph.backward, graph.grad
            else:
                root, leaves, nodes, depth = build(e.Value, size)
                backward, grad = type(root).backward, (lambda v: v.grad)

            def sample(e=e, backward=backward, root=root, nodes=nodes, depth=depth):
                with recursion_room(e, depth):
                    t0 = now()
                    backward(root)
                    return since(t0, nodes, 1e9)
            sample()
            grads[name], runs[name] = [repr(grad(x)) for x in leaves], sample
            if ctx.tick:
                ctx.tick(f"{name}'s graph and first backward")
        except Exception as exc:
            notes[name] = f"{type(exc).__name__}: {exc}"[:160]
    samples, failed = alternate(runs, ctx.cfg["reps"], warmup=0, collect=False, tick=ctx.tick)
    out = []
    for name, xs in samples.items():          # every row a backward of the same built graph: like with like
        check = grads[name] == grads["floor"] if name in ("c", "python") and "floor" in grads else None
        out.append(row(workload, name, "ns/node", xs, size=size, grads_equal_floor=check,
                       mode="plain C" if name == "floor" else "eager", ref=None if name == "c" else "c"))
    return out + rows(workload, "ns/node", {}, {**notes, **failed})


def backward_chain(ctx):
    return _backward(ctx, "backward_chain", chain)


def backward_dag(ctx):
    return _backward(ctx, "backward_dag", random_dag)


# -- micrograd's demo train step: eager, then compiled ------------------------------

SIZES, ALPHA = [2, 16, 16, 1], 1e-4


def demo_loss(Value, model, X, y):
    """micrograd's demo.ipynb loss: max-margin + L2, as the notebook writes it."""
    inputs = [list(map(Value, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum((p * p for p in model.parameters()))
    return data_loss + reg_loss


def eager_demo(e, X, y):
    """The notebook's step: loss, zero_grad, backward, SGD. Returns step(lr) -> loss."""
    random.seed(1337)                      # the notebook's seed: the same weights on every engine
    model = e.MLP(SIZES[0], SIZES[1:])

    def step(lr):
        loss = demo_loss(e.Value, model, X, y)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        return loss.data
    return step


def compiled_demo(e, X, y):
    """The step with pygrad.compile (examples/moons.py --compiled): a hinge-loss
    program accumulated over the rows, an L2 program, SGD. Returns step(lr) -> loss."""
    import numpy as np

    import pygrad
    random.seed(1337)
    model = e.MLP(SIZES[0], SIZES[1:])
    V, params = e.Value, model.parameters()
    x, target = [V(0.0) for _ in range(SIZES[0])], V(0.0)
    hinge = pygrad.compile((1 + -target * model(x)).relu(), inputs=x + [target], params=params)
    l2 = pygrad.compile(ALPHA * V.sum([p * p for p in params]), params=params)
    opt = pygrad.optim.SGD(params, lr=1.0)
    batch, no_inputs = np.c_[np.asarray(X), np.asarray(y)], np.empty((1, 0))

    def step(lr):
        opt.zero_grad()
        data_loss = 0.0
        for v in hinge.accumulate(batch, scale=1.0 / len(batch)).tolist():
            data_loss += v                 # left to right, as sum() over Values adds
        reg_loss = float(l2.accumulate(no_inputs)[0])
        opt.lr = lr
        opt.step()
        return data_loss * (1.0 / len(batch)) + reg_loss
    return step


def _train(ctx, workload, make, engines, steps, mode):
    """ms per step; a sample is `steps` consecutive steps (paying for their own
    garbage) with micrograd's learning-rate schedule. Losses are kept, and
    compared with the floor's where it ran: bitwise. Each row's ratio is
    against the C engine's row of the same mode."""
    X, y = make_moons()
    steppers, notes = {}, {}
    for e in engines:
        if e.MLP is None:
            notes[e.name] = "not run: --engine classes run the graph workloads only (no MLP of theirs)"
            continue
        try:
            steppers[e.name] = make(e, X, y)
        except ImportError as exc:
            notes[e.name] = f"needs {exc.name} ({exc})"
    if ctx.floor is not None and mode == "compiled":     # the exact-order floor, and the one over 8-row lanes
        steppers["floor"] = trainer(ctx.floor, SIZES, X, y, ALPHA)
        steppers[FLOOR_LANES] = trainer(ctx.floor, SIZES, X, y, ALPHA, lanes=True)
    losses = {name: [] for name in steppers}

    def sampler(name):
        def sample():
            t0 = now()
            for _ in range(steps):
                k = len(losses[name])
                losses[name].append(steppers[name](1.0 - 0.9 * (k % 100) / 100))
            return since(t0, steps, 1e3)
        return sample
    samples, failed = alternate({name: sampler(name) for name in steppers}, ctx.cfg["reps"], tick=ctx.tick)
    out = []
    for name, xs in samples.items():
        same = list(map(repr, losses[name])) == list(map(repr, losses["floor"])) if "floor" in losses else None
        out.append(row(workload, name, "ms/step", xs, losses=losses[name],
                       losses_equal_floor=same if name != "floor" else None,
                       mode="plain C" if name.startswith("floor") else mode, ref=None if name == "c" else "c"))
    return out + rows(workload, "ms/step", {}, {**notes, **failed})


FLOOR_LANES = "floor, 8-row lanes"


def train_step(ctx):
    return _train(ctx, "train_step", eager_demo, ctx.engines, ctx.cfg["train_steps"], "eager")


def train_step_compiled(ctx):
    return _train(ctx, "train_step_compiled", compiled_demo, ctx.pygrad(), ctx.cfg["compiled_steps"], "compiled")


# -- memory ----------------------------------------------------------------------


def memory(ctx):
    """Bytes per node of a chain held alive by its root: what Python
    allocated (tracemalloc) plus the C core's live nodes and child lists
    (not its pool's spare capacity, which depends on what ran before)."""
    n, out = ctx.cfg["memory_nodes"], []
    from pygrad._engines import cengine_or_none
    stats = cengine_or_none().stats if cengine_or_none() else dict     # the C core's node counts
    for e in ctx.engines:
        if tracemalloc is None and e.name != "c":
            continue          # without tracemalloc only the C engine's nodes (in the core) are measurable
        c0 = stats()
        if tracemalloc is not None:
            tracemalloc.start()
        root, _, nodes, _ = chain(e.Value, n)
        python_bytes = tracemalloc.get_traced_memory()[0] if tracemalloc is not None else 0
        if tracemalloc is not None:
            tracemalloc.stop()
        c1 = stats()
        core = (c1.get("live", 0) - c0.get("live", 0)) * c1.get("node_bytes", 0) + \
            c1.get("kid_bytes", 0) - c0.get("kid_bytes", 0)
        out.append(row("memory", e.name, "B/node", [(python_bytes + core) / nodes], size=nodes, mode="eager",
                       ref=None if e.name == "c" else "c"))
    return out


# -- cost against graph size -----------------------------------------------------


def scaling(ctx):
    """Backward of the chain at 1e3 ... 1e6 nodes, ns per node: linear cost
    is a flat line (--plot draws it)."""
    out = []
    for n in ctx.cfg["scaling_sizes"]:
        small = {**ctx.cfg, "graph_nodes": n}
        sub = Context([e for e in ctx.engines if e.name in ("c", "python")], ctx.floor, small, tick=ctx.tick)
        out += [{**r, "workload": "scaling", "n": n, "grads_equal_floor": None} for r in backward_chain(sub)]
    return out


# -- microgpt --------------------------------------------------------------------


MICROGPT = "microgpt Value"      # the baseline: microgpt's own Value and Adam loop (microgpt_value.py)
OWN_LOOP, PYGRAD_ADAM = "microgpt's Adam loop", "pygrad Adam"


def microgpt_variants(ctx, mg):
    """{row name: (Value, model class, train(model, tok, docs, steps), mode, ref)}.
    Like with like: each pygrad engine runs microgpt's own Python Adam loop
    (compared with microgpt's Value running it) and pygrad.optim.Adam
    (compared with the same engine's own-loop row); the compiled run is
    compared with nothing eager."""
    own = partial(microgpt_own_loop, mg)
    out = {MICROGPT: (MicrogptValue, mg["GPT"], own, "eager", None),
           f"{MICROGPT}, GC off": (MicrogptValue, mg["GPT"], own, "eager", MICROGPT)}
    for e in ctx.pygrad():
        out[f"{e.name}, {OWN_LOOP}"] = (e.Value, mg["GPT"], own, "eager", MICROGPT)
        out[f"{e.name}, {PYGRAD_ADAM}"] = (e.Value, mg["GPT"], mg["train"], "eager", f"{e.name}, {OWN_LOOP}")
    c = next((e for e in ctx.engines if e.name == "c"), None)
    if "CompiledGPT" in mg and c:          # compile_fn: forward and backward in C
        out[f"c compiled, {PYGRAD_ADAM}"] = (c.Value, mg["CompiledGPT"], partial(mg["train"], compiled=True),
                                            "compiled", None)    # (a --cpp row's time includes its start-up)
    return out


def microgpt(ctx):
    """ms per training step of examples/microgpt.py (one name per step): microgpt's
    own Value with its Adam loop (the baseline), pygrad's engines with that loop
    and with pygrad.optim.Adam, and the compiled run; with --cpp, a C++ port (run
    as `PATH --steps N`, printing `training: X ms/step` as the example does)."""
    mg = runpy.run_path(os.path.join(EXAMPLES, "microgpt.py"))     # the example's setup() and train()
    if ctx.microgpt_data:       # a file, or the names package's names (as the example trains on)
        docs = mg["load_docs"](None if ctx.microgpt_data == "names" else ctx.microgpt_data)
    else:
        docs = [f"{a}{b}{c}" for a in "abcdefgh" for b in "aeiou" for c in "lmnrst"]   # no download needed
    steps, variants, losses = ctx.cfg["microgpt_steps"], microgpt_variants(ctx, mg), {}

    def sampler(name, Value, model_class, train):
        d, tok, model = mg["setup"](docs, Value, model_class)
        losses[name] = []

        def sample():
            t0 = now()
            got, _ = train(model, tok, d, steps, log=lambda line: None)
            losses[name].extend(got)
            return since(t0, steps, 1e3)
        return sample
    runs = {name: sampler(name, *how[:3]) for name, how in variants.items()}
    samples, notes = alternate(runs, ctx.cfg["reps"], tick=ctx.tick)
    out = [row("microgpt", name, "ms/step", xs, losses=losses[name], mode=variants[name][3], ref=variants[name][4])
           for name, xs in samples.items()]
    if ctx.cpp:
        out.append(_cpp_microgpt(ctx.cpp, steps * ctx.cfg["reps"]))
    return out + rows("microgpt", "ms/step", {}, notes)


def microgpt_own_loop(mg, model, tok, docs, steps, log=None):
    """The example's training loop with microgpt's own Adam, a Python loop over p.data / p.grad."""
    m, v, losses = [0.0] * len(model.params), [0.0] * len(model.params), []
    for step in range(steps):
        loss = model.loss(tok.encode(docs[step % len(docs)]))
        loss.backward()
        adam_loop(model.params, m, v, step, mg["LEARNING_RATE"] * (1 - step / steps), mg["BETAS"], mg["EPS"])
        losses.append(loss.data)
    return losses, None


def _cpp_microgpt(path, steps):
    """One run of a C++ port, CPU (the child's rusage) and wall over the same
    region, its whole process (start-up included), per step; the figure it
    prints for its training alone is kept beside them (`own_timer`)."""
    import re
    import resource
    import subprocess

    def child_cpu():
        use = resource.getrusage(resource.RUSAGE_CHILDREN)
        return use.ru_utime + use.ru_stime
    cpu0, t0 = child_cpu(), now()
    proc = subprocess.run([path, "--steps", str(steps)], capture_output=True, text=True, timeout=600)
    _, wall = since(t0, steps, 1e3)
    cpu = (child_cpu() - cpu0) / steps * 1e3
    found = re.search(r"training: ([0-9.]+) ms/step", proc.stdout)
    if proc.returncode != 0 or not found:
        return {"workload": "microgpt", "engine": "C++", "unit": "ms/step",
                "note": f"{path} gave no 'training: X ms/step' line (exit {proc.returncode})"}
    return row("microgpt", "C++", "ms/step", [(cpu, wall)], mode="compiled", ref=None, own_timer=float(found[1]),
               note="one run of the whole process, start-up included")


# -- gradients of gradients ------------------------------------------------------


def demo_scalar_loss(ps, X, y, relu, number):
    """micrograd's demo loss (hinge + L2) of MLP(2, [16, 16, 1]) with its 337
    weights taken from the list ps, one scalar op at a time: one text for
    pygrad's Values and torch's 0-d tensors."""
    total = 0
    for xrow, yi in zip(X, y):
        h, i = [number(x) for x in xrow], 0
        for nin, nout in zip(SIZES[:-1], SIZES[1:]):
            out = []
            for _ in range(nout):
                s = ps[i + nin]
                for w, x in zip(ps[i:i + nin], h):
                    s = s + w * x
                i += nin + 1
                out.append(relu(s) if nout != 1 else s)
            h = out
        total = total + relu(1 + -yi * h[0])
    reg = 0
    for p in ps:
        reg = reg + p * p
    return total * (1.0 / len(X)) + ALPHA * reg


def hvp(ctx):
    """A Hessian-vector product of micrograd's demo loss (10 samples, 337
    weights), ms: beside one gradient of the same loss on the same engine
    (eager, like with like), and, in a full run with torch installed, torch's
    hvp over the same scalar graph (0-d tensors)."""
    import pygrad
    X, y = make_moons(10)
    rng = random.Random(7)
    theta = [rng.uniform(-0.5, 0.5) for _ in range(337)]
    v = [rng.uniform(-1, 1) for _ in theta]
    runs = {}
    for e in ctx.pygrad():
        V = e.Value

        def loss(*ps, V=V):
            return demo_scalar_loss(list(ps), X, y, lambda s: s.relu(), V)

        def gradient(V=V, loss=loss):
            t0 = now()
            ps = [V(t) for t in theta]
            loss(*ps).backward()
            return since(t0, 1, 1e3)

        def product(V=V, loss=loss):
            t0 = now()
            pygrad.hvp(loss, [V(t) for t in theta], v)
            return since(t0, 1, 1e3)
        runs[f"{e.name} gradient"], runs[f"{e.name} hvp"] = gradient, product
    if ctx.cfg is FULL:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            def torch_hvp():
                def f(t):
                    return demo_scalar_loss([t[k] for k in range(len(theta))], X, y, torch.relu,
                                            lambda x: torch.tensor(x, dtype=torch.float64))
                t0 = now()
                torch.autograd.functional.hvp(f, torch.tensor(theta, dtype=torch.float64),
                                              torch.tensor(v, dtype=torch.float64))
                return since(t0, 1, 1e3)
            runs["torch 0-d hvp"] = torch_hvp
    samples, notes = alternate(runs, ctx.cfg["reps"], tick=ctx.tick)
    out = []
    for e in ctx.pygrad():   # each engine's hvp against its own gradient
        mine = {k: xs for k, xs in samples.items() if k.startswith(e.name + " ")}
        out += rows("hvp", "ms", mine, {}, ref=f"{e.name} gradient", mode="eager")
    if "torch 0-d hvp" in samples:   # torch's against pygrad's C hvp: the same product
        out += rows("hvp", "ms", {"c hvp": samples["c hvp"], "torch 0-d hvp": samples["torch 0-d hvp"]}, {},
                    ref="c hvp", mode="eager")[1:]
    return out + rows("hvp", "ms", {}, notes)


WORKLOADS = {"eager_forward": eager_forward, "backward_chain": backward_chain, "backward_dag": backward_dag,
             "train_step": train_step, "train_step_compiled": train_step_compiled, "memory": memory,
             "scaling": scaling, "microgpt": microgpt, "hvp": hvp}
