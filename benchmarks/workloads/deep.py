"""The deepest chain each engine differentiates with default settings, and
how it fails beyond that. Every depth runs in a child process (probe.py):
a RecursionError, a MemoryError, a crash or a timeout is a result here."""
from ..results import note_row, row
from .children import run_probe


def _bisect(name, lo, hi, timeout, tries=8):
    """Narrow the last good depth when the failure came fast (an exception)."""
    for _ in range(tries):
        if hi - lo <= max(2, lo // 50):
            break
        mid = (lo + hi) // 2
        if run_probe(["deep", name, mid], timeout).get("ok"):
            lo = mid
        else:
            hi = mid
    return lo


def _deepest(ctx, eng):
    depths, timeout = ctx.cfg["deep_depths"], ctx.cfg["deep_timeout"]
    tried, best, failure = [], 0, None
    for depth in depths:
        ctx.progress.tick(f"{eng.name} depth {depth:,}")
        result = run_probe(["deep", eng.name, depth], timeout)
        tried.append({"depth": depth, **result})
        if not result.get("ok"):
            failure = (depth, result.get("error", "failed"))
            break
        best = depth
    if failure is None:
        return best, f"ok at every depth tried (to {depths[-1]:,})", tried
    depth, error = failure
    if not error.startswith(("timeout", "crashed")):
        best = _bisect(eng.name, best, depth, timeout)
    return best, f"fails at {depth:,}: {error}", tried


def deepest(ctx):
    engines = ctx.plain()
    ctx.progress.start("deep_chain", len(engines) * len(ctx.cfg["deep_depths"]))
    out = []
    for eng in engines:
        try:
            nodes, note, tried = _deepest(ctx, eng)
        except OSError as exc:               # could not start a child at all
            out.append(note_row("deep_chain", eng.name, f"probe failed: {exc}"))
            continue
        out.append(row("deep_chain", eng.name, "nodes", [nodes], ratios=False, note=note, tried=tried))
    return out
