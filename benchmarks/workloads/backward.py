"""Backward per node on five graph shapes. Each engine builds its graph
once; the timed region is one `root.backward()` (a full sort and sweep
every time: grads accumulate, the work does not change). The graphs stay
alive to the end of the workload's process (worker.py skips freeing them).

The floor (hand-written C, floor/backward.c) differentiates the same
graph, recorded from the same builder, node for node as micrograd builds
it; its time is divided by the same node count as the engines'."""
from time import perf_counter

from .. import graphs
from ..floor import recorder
from ..floor.handles import Graph as FloorGraph
from ..results import note_row, row
from ..stats import median
from ..timing import alternate, needs_deep_recursion, recursion_for


def c_live():
    """Live nodes in the C core (for the node count by stats() delta)."""
    try:
        from pygrad.cengine import stats
    except ImportError:
        return None
    return stats()["live"]


def _backward_sample(eng, g):
    def sample():
        with recursion_for(eng, g.depth):
            t0 = perf_counter()
            eng.backward(g.root)
            return (perf_counter() - t0) / g.nodes * 1e9
    return sample


class _FloorRun:
    """The floor's graph (recorded from `build`) and its timed backward."""

    def __init__(self, eng, build, size):
        tape = recorder.Tape()
        self.g = build(recorder.engine(tape), size)
        self.graph = FloorGraph(eng.floor, tape)
        self.splits = []              # (sort, sweep) seconds of each sample
        self.root = self.g.root.i

    def sample(self):
        t0 = perf_counter()
        split = self.graph.backward(self.root)
        took = perf_counter() - t0
        self.splits.append(split)
        return took / self.g.nodes * 1e9

    def summary(self):
        sort, sweep = (median([s[i] for s in self.splits]) / self.g.nodes * 1e9 for i in (0, 1))
        return f"{sort:.3g} sort + {sweep:.3g} sweep", {"sort_ns": sort, "sweep_ns": sweep}


def _build(eng, build, size):
    """(graph, sample, extra) for one engine, the floor included."""
    if eng.floor is not None:
        run = _FloorRun(eng, build, size)
        return run.g, run.sample, {"root_data": run.g.root.data, "nodes": run.g.nodes,
                                   "depth": run.g.depth, "floor_nodes": run.graph.n, "_run": run}
    before = c_live() if eng.name == "c" else None
    g = build(eng, size)
    extra = {"root_data": eng.data(g.root), "nodes": g.nodes, "depth": g.depth}
    if before is not None:
        extra["c_nodes_by_stats"] = c_live() - before
    return g, _backward_sample(eng, g), extra


def _engines(ctx):
    floor = ctx.floor()
    return ctx.plain() + ([floor] if floor else [])


def _note(eng, g, extra):
    if "_run" in extra:
        text, split = extra.pop("_run").summary()
        extra.update(split)
        return text
    if needs_deep_recursion(eng, g.depth):
        return f"recursion limit raised to {g.depth + 1000:,}"
    return ""


def _measure(ctx, workload, build, unit):
    size, reps = ctx.cfg["graph_nodes"], ctx.cfg["reps"]
    engines = _engines(ctx)
    ctx.progress.start(workload, len(engines) * (reps + 1))
    runs, built, notes, extra = {}, {}, {}, {}
    for eng in engines:
        ctx.progress.tick(f"{eng.name} build")
        try:
            g, sample, extra[eng.name] = _build(eng, build, size)
        except Exception as exc:
            notes[eng.name] = f"build failed: {type(exc).__name__}: {exc}"[:200]
            continue
        built[eng.name] = g
        runs[eng.name] = (eng, sample)
    samples, failed = alternate(runs, reps, ctx.progress, collect=False)
    notes.update(failed)
    out = []
    for name, xs in samples.items():
        note = _note(runs[name][0], built[name], extra[name])
        out.append(row(workload, name, unit, xs, size=built[name].nodes, note=note, **extra[name]))
    out += [note_row(workload, name, note) for name, note in notes.items()]
    return out


def chain(ctx):
    return _measure(ctx, "backward_chain", graphs.chain, "ns/node")


def wide(ctx):
    return _measure(ctx, "backward_wide", graphs.wide, "ns/term")


def dag(ctx):
    return _measure(ctx, "backward_dag", graphs.random_dag, "ns/node")


def dag_local(ctx):
    return _measure(ctx, "backward_dag_local", graphs.random_dag_local, "ns/node")


def mlp(ctx):
    return _measure(ctx, "backward_mlp", graphs.mlp_batch, "ns/node")
