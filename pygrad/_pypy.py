"""On PyPy: tell the garbage collector about the memory the C core holds.

A C-engine Value frees its node in `__del__`. CPython runs that at once
(reference counting); PyPy runs it only when a major collection finds the
handle dead, and it schedules collections by the memory *it* manages.
A handle is a few dozen bytes, but the loss it names can keep a whole graph
of C nodes alive, so without help PyPy lets the core grow by gigabytes
between collections (and slows down as it does).

So pygrad watches the core itself: when the bytes the core holds have grown
by more than GROWTH since the last major collection (or doubled, for big
graphs), it asks for a major collection, which runs the dead handles'
finalizers and frees their nodes. Memory held by the core then stays within
a few dozen MB of what CPython would hold. (`__pypy__.add_memory_pressure`
was measured too weak here: PyPy scales its threshold by its own heap.)

It looks at two moments. The Python handle's node-making calls count
down `left[0]` (one subtraction per node) and call `grew` when it runs
out, that is each time they have made GROWTH / STEP more bytes of nodes.
(Not by node id: freed ids are reused in any order, and a count kept by id
missed 18 MB of new nodes after a big graph went.) And a GC hook looks
after each minor collection, for the nodes made elsewhere (dense layers,
programs). The hook alone is not enough: PyPy sizes its nursery at half
the cache the CPU reports, and a machine reporting 480 MB gets a 240 MB
nursery, which a loop of eager ops fills only after the core has grown by
a hundred MB or more.
Hooks the program installed before pygrad keep being called.
"""
import sys
from typing import Any, Callable, List, Optional

GROWTH = 16 << 20   # bytes the core may grow by between major collections
STEP = 4            # the node-making calls look each time they made GROWTH / STEP bytes of nodes
NEVER = 1 << 62     # a count no program runs down

# Nodes the Python handle's node-making calls may make before they call grew().
left: List[int] = [NEVER]
_look: Optional[Callable[[], None]] = None    # install's look at the core
_node_bytes = 32                              # (the core's, read by install)


def grew() -> None:
    """The node-making calls' count ran out: look at the core now, and
    count down again. (No node-making call looks meanwhile: the look may
    collect, and run finalizers that make Values.)"""
    left[0] = NEVER
    if _look is None:
        return
    try:
        _look()
    finally:
        left[0] = max(1024, GROWTH // (STEP * _node_bytes))


def install(ffi: Any, lib: Any) -> bool:
    """Hook PyPy's GC to the core's memory; False (and nothing done) elsewhere."""
    global _look, _node_bytes
    if sys.implementation.name != "pypy":
        return False
    import gc

    hooks: Any = gc.hooks  # type: ignore[attr-defined]  # PyPy only: not in CPython's gc
    stats = ffi.new("pg_stats_t *")
    previous_minor = hooks.on_gc_minor
    # What the core held after pygrad's last collection (before any, what the
    # first look found), or less if it has held less since (PyPy's own
    # collections, graphs let go). Never raised to what a look sees: that
    # may count dead graphs whose finalizers have not run yet. (A base taken
    # at the first look after each major collection did: PyPy reports one to
    # on_gc_collect a while after it, when new graphs have died meanwhile,
    # and the core doubled from there: 1 -> 3 -> 7 MB for GROWTH 1 MB.)
    base = [-1]
    collecting = [False]

    def held() -> int:
        lib.pg_stats(stats)
        return int(stats.live * stats.node_bytes + stats.kid_bytes)

    def look() -> None:
        """Collect if the core has grown too much since the base."""
        now = held()
        if now < base[0] or base[0] < 0:
            base[0] = now
        elif now - base[0] > max(GROWTH, base[0]) and not collecting[0]:
            collecting[0] = True   # (the minor hook may run during the collection)
            try:
                gc.collect()       # runs the dead handles' finalizers too
            finally:
                collecting[0] = False
            base[0] = held()

    def on_gc_minor(gc_stats: Any) -> None:
        look()
        if previous_minor is not None:
            previous_minor(gc_stats)

    hooks.on_gc_minor = on_gc_minor
    held()
    _look, _node_bytes = look, int(stats.node_bytes)
    left[0] = 0    # the first new node looks
    return True
