"""Cost against graph size: the chain at 1e3 ... 1e6 nodes, forward (build)
and backward per node. Linear cost shows as a flat time per node (and as a
slope-1 line on the log-log plot, plot.py)."""
from time import perf_counter

from .. import graphs
from ..results import rows_from
from ..timing import alternate, recursion_for


def size_label(n):
    """1000 -> '1e3'; other sizes with separators."""
    s = f"{n:.0e}".replace("e+0", "e").replace("e+", "e")
    return s if float(s) == n else f"{n:,}"


def _sample(eng, n):
    def sample():
        t0 = perf_counter()
        g = graphs.chain(eng, n)
        t1 = perf_counter()
        with recursion_for(eng, g.depth):
            eng.backward(g.root)
        t2 = perf_counter()
        return ((t1 - t0) / g.nodes * 1e9, (t2 - t1) / g.nodes * 1e9)
    return sample


def curve(ctx):
    sizes, reps = ctx.cfg["scaling_sizes"], ctx.cfg["scaling_reps"]
    engines = ctx.plain()
    ctx.progress.start("scaling", len(sizes) * len(engines) * reps)
    out = []
    for n in sizes:
        samples, notes = alternate({e.name: (e, _sample(e, n)) for e in engines}, reps, ctx.progress)
        for i, part in enumerate(("forward", "backward")):
            picked = {name: [s[i] for s in xs] for name, xs in samples.items()}
            out += rows_from(f"scaling_{part} {size_label(n)}", "ns/node", picked, notes, size=n,
                             scaling=part, n=n)
    return out
