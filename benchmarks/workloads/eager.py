"""Eager forward through Python operators: the chain acc = acc * a + b,
timed per op (two ops per step); and the same with a second thread spinning."""
from time import perf_counter

from ..results import row, rows_from
from ..timing import alternate, busy_thread


def _chain_sample(eng, ops, threaded=False):
    steps = max(1, ops // 2)

    def run():
        a, b, acc = eng.Value(0.999), eng.Value(0.001), eng.Value(1.0)
        t0 = perf_counter()
        for _ in range(steps):
            acc = acc * a + b
        return (perf_counter() - t0) / (2 * steps) * 1e9

    def sample():
        if not threaded:
            return run()
        with busy_thread():
            return run()
    return sample


def forward(ctx):
    ops, reps = ctx.cfg["eager_ops"], ctx.cfg["reps"]
    runs = {e.name: (e, _chain_sample(e, ops)) for e in ctx.values()}
    ctx.progress.start("eager_forward", reps * len(runs))
    samples, notes = alternate(runs, reps, ctx.progress, warmup=1)
    return rows_from("eager_forward", "ns/op", samples, notes, size=ops)


def forward_with_thread(ctx):
    """Each round: every engine alone, then with the spinner. The slowdown
    row divides the two samples of the same round."""
    ops, reps = ctx.cfg["eager_ops"], ctx.cfg["reps"]
    runs = {}
    for e in ctx.plain():
        runs[e.name] = (e, _chain_sample(e, ops))
        runs[e.name + "+thread"] = (e, _chain_sample(e, ops, threaded=True))
    ctx.progress.start("eager_thread", reps * len(runs))
    samples, notes = alternate(runs, reps, ctx.progress, warmup=1)
    out = []
    for e in ctx.plain():
        alone, busy = samples.get(e.name), samples.get(e.name + "+thread")
        if alone and busy:
            out.append(row("eager_thread", e.name, "ns/op", busy, size=ops))
            out.append(row("eager_thread_slowdown", e.name, "x", [b / a for a, b in zip(alone, busy)],
                           ratios=False))
        else:
            out += rows_from("eager_thread", "", {}, {e.name: notes.get(e.name) or notes.get(e.name + "+thread")})
    return out
