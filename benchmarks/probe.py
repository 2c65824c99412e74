"""Risky measurements, run in a child process so that a crash, a runaway
allocation or a hang costs one probe, never the benchmark:

    python -m benchmarks.probe deep ENGINE DEPTH
    python -m benchmarks.probe memory ENGINE NODES rss|trace

Each prints one JSON object on its last stdout line. Address space is
capped, so running out of memory is a MemoryError rather than the OOM killer.
"""
import gc
import json
import os
import sys
import tracemalloc
from time import perf_counter

from .engines import load
from .graphs import chain
from .timing import Skip, recursion_for


def limit_memory(fraction=0.7):
    try:
        import resource
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        cap = int(total * fraction)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, ValueError, OSError, AttributeError):
        pass                                    # not on this platform: no cap


def rss_bytes():
    """Resident set size from /proc/self/statm (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def c_stats(eng):
    if eng.name != "c":
        return None
    from pygrad.cengine import stats
    return stats()


def deep(eng, depth):
    """The chain acc = acc*a + b at a = b = 1, so the gradients are exact
    integers to check: d/db = steps, d/da = steps*(steps-1)/2."""
    steps = max(1, (depth - 2) // 2)       # 2 * steps + 3 nodes: depth, give or take one
    a, b, acc = eng.Value(1.0), eng.Value(1.0), eng.Value(0.0)
    stage, t0 = "build", perf_counter()
    try:
        for _ in range(steps):
            acc = acc * a + b
        t1 = perf_counter()
        stage = "backward"
        eng.backward(acc)
        t2 = perf_counter()
    except Exception as exc:   # RecursionError, MemoryError, ...
        return {"ok": False, "error": f"{type(exc).__name__} in {stage}: {exc}"[:200]}
    exact = eng.grad(b) == steps and eng.grad(a) == steps * (steps - 1) / 2
    return {"ok": bool(exact), "nodes": 2 * steps + 3, "build_s": t1 - t0, "backward_s": t2 - t1,
            "rss_mb": (rss_bytes() or 0) / 2**20, "error": "" if exact else "wrong gradients"}


def memory(eng, nodes, mode):
    """Bytes per node of a chain: alive, after backward and `del`, after gc.collect()."""
    tracing = mode == "trace"
    gc.collect()
    if tracing:
        tracemalloc.start()
    now = (lambda: tracemalloc.get_traced_memory()[0]) if tracing else rss_bytes
    s0, m0 = c_stats(eng), now()
    g = chain(eng, nodes)
    s1, m1 = c_stats(eng), now()
    note = ""
    if tracing and eng.recursive:
        # tracemalloc walks the whole stack on every allocation: under a
        # recursive backward that is quadratic (minutes for 1e5 nodes).
        note = "tracemalloc: no backward (recursive)"
    else:
        try:
            with recursion_for(eng, g.depth):
                eng.backward(g.root)
        except Skip as exc:
            note = f"no backward: {exc}"
    del g
    s2, m2 = c_stats(eng), now()
    gc.collect()
    s3, m3 = c_stats(eng), now()
    n = 2 * max(1, (nodes - 3) // 2) + 3
    out = {"nodes": n, "mode": mode, "alive": (m1 - m0) / n, "dropped": (m2 - m0) / n,
           "dropped_gc": (m3 - m0) / n, "note": note}
    if s1:
        # The C core's own account: pool (with its growth slack) per live node,
        # and nodes still live after the drop (a leak if not zero).
        out["c_pool_per_node"] = (s1["pool_bytes"] + s1["kid_bytes"]) / s1["live"]
        out["c_node_bytes"] = s1["node_bytes"]
        out["c_leaked_nodes"] = s2["live"] - s0["live"]
        out["c_leaked_nodes_gc"] = s3["live"] - s0["live"]
    return out


def main(argv):
    kind, name, n = argv[0], argv[1], int(float(argv[2]))
    limit_memory()
    engines, missing = load([name])
    if not engines:
        return {"ok": False, "error": missing[name]}
    if kind == "deep":
        return deep(engines[0], n)
    return memory(engines[0], n, argv[3])


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
