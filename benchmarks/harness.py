"""The engines under test, and how samples are taken.

Each engine is one small adapter: `Value(x)` makes a leaf, `MLP(nin, nouts)`
is micrograd's network on it. micrograd (from PyPI) is compared when it is
installed, and reported missing otherwise.

Samples: engines alternate round by round in one process (A1 B1 A2 B2 ...),
so slow drifts of the machine (frequency scaling, other load) fall on every
engine alike; a full collection runs before each sample, outside the timed
region, so no engine pays for another's garbage; within a sample the cyclic
GC runs as users have it (except for an engine named "... GC off").
"""
import gc
import statistics
import sys
from contextlib import contextmanager
from dataclasses import dataclass

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


def alternate(runs, reps, warmup=1, collect=True):
    """`reps` samples of each `runs[name]()` (which times its own region and
    returns a number), round-robin after `warmup` untimed rounds. Returns
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
    return {n: s for n, s in samples.items() if n not in notes}, notes


def row(workload, engine, unit, samples, **extra):
    """One result: raw samples, their median, min and max, and what else the workload knows."""
    return {"workload": workload, "engine": engine, "unit": unit, "samples": samples,
            "median": statistics.median(samples), "min": min(samples), "max": max(samples), **extra}


def rows(workload, unit, samples, notes, **extra):
    """Rows for every engine measured, and a note row for every engine that failed."""
    return ([row(workload, name, unit, xs, **extra) for name, xs in samples.items()]
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
