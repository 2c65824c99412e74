"""On PyPy: tell the garbage collector about the memory the C core holds.

A C-engine Value frees its node in `__del__`. CPython runs that at once
(reference counting); PyPy runs it only when a major collection finds the
handle dead, and it schedules major collections by the memory *it* manages.
A handle is a few dozen bytes, but the loss it names can keep a whole graph
of C nodes alive, so without help PyPy lets the core grow by gigabytes
between collections (and slows down as it does).

So pygrad watches the core itself, from a GC hook (nothing is added to
each op): after each minor collection, when the bytes the core holds have
grown by more than GROWTH since the last major collection (or doubled, for
big graphs), it asks for a major collection, which runs the dead handles'
finalizers and frees their nodes. Memory held by the core then stays within
a few dozen MB of what CPython would hold. (`__pypy__.add_memory_pressure`
was measured too weak here: PyPy scales its threshold by its own heap.)
Hooks the program installed before pygrad keep being called.
"""
import sys
from typing import Any

GROWTH = 16 << 20   # bytes the core may grow by between major collections


def install(ffi: Any, lib: Any) -> bool:
    """Hook PyPy's GC to the core's memory; False (and nothing done) elsewhere."""
    if sys.implementation.name != "pypy":
        return False
    import gc

    hooks: Any = gc.hooks  # type: ignore[attr-defined]  # PyPy only: not in CPython's gc
    stats = ffi.new("pg_stats_t *")
    previous_minor, previous_major = hooks.on_gc_minor, hooks.on_gc_collect
    # Bytes the core held after the last major collection's finalizers ran
    # (they run after the collection, so the next minor collection reads it).
    after_major = [0]
    major_done = [False]

    def held() -> int:
        lib.pg_stats(stats)
        return int(stats.live * stats.node_bytes + stats.kid_bytes)

    def on_gc_minor(gc_stats: Any) -> None:
        now = held()
        if major_done[0]:
            major_done[0] = False
            after_major[0] = now
        elif now - after_major[0] > max(GROWTH, after_major[0]):
            gc.collect()        # runs the dead handles' finalizers too
            after_major[0] = held()
        if previous_minor is not None:
            previous_minor(gc_stats)

    def on_gc_collect(gc_stats: Any) -> None:
        major_done[0] = True
        if previous_major is not None:
            previous_major(gc_stats)

    hooks.on_gc_minor = on_gc_minor
    hooks.on_gc_collect = on_gc_collect
    return True
