"""The engines under test, and how samples are taken.

Each engine is one small adapter: `Value(x)` makes a leaf, `MLP(nin, nouts)`
is micrograd's network on it. micrograd (from PyPI) is compared when it is
installed, and reported missing otherwise.

Samples: engines alternate round by round in one process (A1 B1 A2 B2 ...),
so slow drifts of the machine (frequency scaling, other load) fall on every
engine alike; a full collection runs before each sample, outside the timed
region, so no engine pays for another's garbage; within a sample the cyclic
GC runs as users have it (except for an engine named "... GC off").
A timed sample is a pair, (process CPU time, wall time), over one region:
`now()` before it, `since(t0, count, scale)` after it.
"""
import gc
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

from . import stats

ENGINES = ("c", "python", "micrograd")     # report order; the floor is separate


@dataclass
class Engine:
    name: str
    Value: object
    MLP: object
    version: str = ""
    recursive: bool = False       # backward recurses once per graph level (micrograd)


def _pygrad(name):
    import pygrad
    from pygrad import nn
    Value = pygrad.value_class(name)    # ImportError where the C core is not built

    def MLP(nin, nouts):                # nn builds parameters on the active engine: make it this one
        before = pygrad.get_engine()
        pygrad.use_engine(name)
        try:
            return nn.MLP(nin, nouts)
        finally:
            pygrad.use_engine(before)
    return Engine(name, Value, MLP, version=pygrad.__version__)


def _micrograd(name):
    from importlib.metadata import version

    from micrograd.engine import Value
    from micrograd.nn import MLP
    return Engine(name, Value, MLP, version=version("micrograd"), recursive=True)


LOADERS = {"c": _pygrad, "python": _pygrad, "micrograd": _micrograd}


def load(names):
    """(engines that loaded, {name: why not})."""
    engines, missing = [], {}
    for name in names:
        try:
            engines.append(LOADERS[name](name))
        except ImportError as exc:
            missing[name] = f"not installed ({exc})"
    return engines, missing


def now():
    """The clocks at the start of a timed region. Process CPU time, not the
    thread's: a sample's garbage collection and any helper thread count."""
    return time.process_time(), time.perf_counter()


def since(t0, count=1, scale=1.0):
    """(CPU, wall) elapsed since t0 = now(), per `count` items, times `scale`."""
    cpu, wall = now()
    return (cpu - t0[0]) / count * scale, (wall - t0[1]) / count * scale


def alternate(runs, reps, warmup=1, collect=True, tick=None):
    """`reps` samples of each `runs[name]()` (which times its own region and
    returns a number or a (CPU, wall) pair), round-robin after `warmup`
    untimed rounds, calling `tick()` after each round if given. Returns
    ({name: [samples]}, {name: why it failed}); a failing engine is dropped.
    collect=False where big graphs are alive and samples leave no garbage
    (a full collection would then take seconds and measure nothing)."""
    samples, notes = {name: [] for name in runs}, {}
    for r in range(-warmup, reps):
        for name, sample in runs.items():
            if name in notes:
                continue
            if collect:
                gc.collect()
            gc_off = name.endswith("GC off")
            if gc_off:
                gc.disable()
            try:
                value = sample()
            except Exception as exc:     # RecursionError, MemoryError...: a note, not a crash
                notes[name] = f"{type(exc).__name__}: {exc}"[:160]
                continue
            finally:
                if gc_off:
                    gc.enable()
            if r >= 0:
                samples[name].append(value)
        if tick:
            tick()
    return {n: s for n, s in samples.items() if n not in notes}, notes


def row(workload, engine, unit, samples, **extra):
    """One result: raw samples (CPU; wall beside them where timed), their
    summaries, the warnings they earn, and what else the workload knows.
    `mode` (eager, compiled or plain C) and `ref` (the engine this row's ratio is
    taken against, in the same workload) come in `extra`."""
    timed = bool(samples) and isinstance(samples[0], tuple)
    cpu = [s[0] for s in samples] if timed else list(samples)
    wall = [s[1] for s in samples] if timed else None
    out = {"workload": workload, "engine": engine, "unit": unit, "samples": cpu, **stats.summary(cpu)}
    if timed:
        out.update(wall_samples=wall, **stats.summary(wall, "wall_"))
    return {**out, "warnings": stats.warnings(cpu, wall), **extra}


def rows(workload, unit, samples, notes, ref=None, **extra):
    """Rows for every engine measured (each but `ref` compared with `ref`),
    and a note row for every engine that failed."""
    return ([row(workload, name, unit, xs, ref=ref if name != ref else None, **extra)
             for name, xs in samples.items()]
            + [{"workload": workload, "engine": name, "unit": unit, "note": why} for name, why in notes.items()])


@contextmanager
def recursion_room(eng, depth):
    """Room for micrograd's recursive sort on a graph `depth` deep: safe from Python
    3.11 (a Python-to-Python call uses no C stack); before, it could crash."""
    old = sys.getrecursionlimit()
    if getattr(eng, "recursive", False) and depth > old - 200:
        if sys.version_info < (3, 11):
            raise RecursionError(f"its backward recurses {depth:,} deep; unsafe before Python 3.11")
        sys.setrecursionlimit(depth + 1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
