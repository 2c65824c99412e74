"""Bytes per node of a chain graph, each engine in a fresh child process:
alive, and left after `del` (GC as is) and after gc.collect(). Python
engines are measured with tracemalloc (exact, in a second child, since
tracing inflates RSS); the C core by its own stats(); torch (whose memory
Python never sees) by RSS; all by RSS delta as well."""
from ..results import note_row, row
from .children import run_probe

WHAT = (
    "memory_alive",
    "memory_dropped",
    "memory_dropped_gc",
)


def _precise(eng, rss, nodes, timeout):
    """(alive, dropped, dropped_gc, how) by the most exact meter for this engine."""
    if eng.meter == "rss":                      # memory Python's allocator never sees (torch)
        if "alive" not in rss:
            raise RuntimeError(rss.get("error", "no result"))
        return rss["alive"], rss["dropped"], rss["dropped_gc"], "RSS delta"
    if eng.meter == "stats":
        r = rss                                 # the RSS child also read stats()
        if "c_node_bytes" not in r:
            raise RuntimeError(r.get("error", "no result"))
        nb = r["c_node_bytes"]
        return (r["c_pool_per_node"], r["c_leaked_nodes"] * nb / r["nodes"],
                r["c_leaked_nodes_gc"] * nb / r["nodes"],
                f"node = {nb} B; the pool doubles as it grows")
    r = run_probe(["memory", eng.name, nodes, "trace"], timeout)
    if "alive" not in r:
        raise RuntimeError(r.get("error", "no result"))
    return r["alive"], r["dropped"], r["dropped_gc"], r.get("note", "")


def per_node(ctx):
    nodes, timeout = ctx.cfg["memory_nodes"], ctx.cfg["deep_timeout"]
    engines = ctx.plain()
    ctx.progress.start("memory", 2 * len(engines))
    out = []
    for eng in engines:
        ctx.progress.tick(f"{eng.name} rss")
        rss = run_probe(["memory", eng.name, nodes, "rss"], timeout)
        ctx.progress.tick(f"{eng.name} exact")
        try:
            exact = _precise(eng, rss, nodes, timeout)
        except RuntimeError as exc:
            out += [note_row(w, eng.name, f"probe failed: {exc}") for w in WHAT]
        else:
            for workload, value in zip(WHAT, exact):
                out.append(row(workload, eng.name, "B/node", [value], size=nodes, note=exact[3],
                               ratios=workload == "memory_alive"))
        if "alive" in rss:
            out.append(row("memory_rss", eng.name, "B/node", [rss["alive"]], size=nodes,
                           note=f"{rss['dropped_gc']:.0f} B/node still resident after drop + collect",
                           retained_after_drop=rss["dropped_gc"]))
        else:
            out.append(note_row("memory_rss", eng.name, f"probe failed: {rss.get('error')}"))
    return out
