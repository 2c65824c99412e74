"""How samples are taken: engines alternate round by round in one process.

Alternating (A1 B1 C1 A2 B2 C2 ...) spreads slow drifts of the machine
(frequency scaling, other load) over every engine alike, where running all
of A then all of B would hand them to one engine. A full collection runs
before each sample (outside the timed region) where samples leave garbage,
so one engine's garbage is never collected on another engine's clock; within a sample the cyclic GC is
on, as users have it (except for the *-gc-off variants).
"""
import gc
import sys
import threading
from contextlib import contextmanager

from .engines import gc_state


class Skip(Exception):
    """A workload cannot run on this engine here; the message says why."""


def alternate(runs, reps, progress=None, warmup=0, collect=True):
    """Take `reps` samples from each of `runs` ({name: (engine, sample)}),
    round-robin. `sample()` times its own measured region and returns one
    number. Returns ({name: [samples]}, {name: note}): an engine whose sample
    raises is reported with the error as its note and dropped.
    collect=False where samples leave no garbage but big graphs are alive
    (a full collection would then cost seconds and measure nothing)."""
    samples = {name: [] for name in runs}
    notes = {}
    for r in range(-warmup, reps):
        for name, (eng, sample) in runs.items():
            if name in notes:
                continue
            if progress and r >= 0:
                progress.tick(f"{name} {r + 1}/{reps}")
            if collect:
                gc.collect()
            try:
                with gc_state(eng):
                    value = sample()
            except Skip as exc:
                notes[name] = str(exc)
                continue
            except Exception as exc:     # RecursionError, MemoryError...: report, never crash
                notes[name] = f"failed: {type(exc).__name__}: {exc}"[:200]
                continue
            if r >= 0:
                samples[name].append(value)
    return {n: s for n, s in samples.items() if n not in notes}, notes


def needs_deep_recursion(eng, depth):
    """Does this engine's backward on a graph `depth` deep pass the default limit?"""
    return eng.recursive and depth >= sys.getrecursionlimit() - 200


@contextmanager
def recursion_for(eng, depth):
    """Room for an engine whose backward recurses once per graph level.

    From Python 3.11 a Python-to-Python call uses no C stack, so a higher
    limit is safe; before that a deep recursion can crash the interpreter.
    """
    if not needs_deep_recursion(eng, depth):
        yield None
        return
    if sys.version_info < (3, 11):
        raise Skip(f"its backward recurses {depth:,} deep; unsafe on Python < 3.11")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 1000)
    try:
        yield depth + 1000
    finally:
        sys.setrecursionlimit(old)


@contextmanager
def busy_thread():
    """A second Python thread spinning (as a progress bar or server thread would)."""
    stop = []

    def spin():
        while not stop:
            pass

    t = threading.Thread(target=spin, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.append(True)
        t.join()
