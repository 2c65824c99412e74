"""The engines under test, each behind one small adapter.

A workload is written once against this table: `eng.Value(x)` makes a leaf,
`eng.total(xs)` sums nodes the way that engine's users do (one fused node
on pygrad, Python's `sum` elsewhere), `eng.grad(v)` reads a gradient,
`eng.backward(v)` differentiates (again and again on the same graph: torch
must be told to keep it), `eng.MLP(nin, nouts)` is micrograd's network on
that engine. Engines that are not installed are reported with a note
instead of numbers.

"floor" is not an engine but hand-written C (floor/): it has no `Value`,
only the workloads that have a floor run it, beside the engines.
"""
import builtins
import gc
from dataclasses import dataclass

ORDER = ("c", "floor", "python", "micrograd", "micrograd-gc-off", "torch")


@dataclass
class Engine:
    name: str
    Value: object              # leaf factory, and the `Value` a user imports
    MLP: object                # micrograd's MLP(nin, nouts) on this engine
    total: object              # list of nodes -> one node
    grad: object = lambda v: v.grad
    data: object = lambda v: v.data
    backward: object = lambda v: v.backward()
    recursive: bool = False    # backward recurses once per level of the graph
    gc_off: bool = False       # timed with the cyclic GC disabled
    meter: str = "tracemalloc"  # exact memory meter: tracemalloc, stats (the C core's), rss
    version: str = ""
    floor: object = None       # the compiled floor module (floor/), for the "floor" entry only


def _pygrad(name):
    import pygrad
    from pygrad import nn
    from pygrad._engines import value_class

    Value = value_class(name)          # ImportError if the C core is not built

    def MLP(nin, nouts):
        # pygrad.nn builds parameters on the active engine: make it ours.
        before = pygrad.get_engine()
        pygrad.use_engine(name)
        try:
            return nn.MLP(nin, nouts)
        finally:
            pygrad.use_engine(before)

    return Engine(name, Value, MLP, Value.sum, version=pygrad.__version__,
                  meter="stats" if name == "c" else "tracemalloc")


def _micrograd(name):
    from micrograd.engine import Value
    from micrograd.nn import MLP
    return Engine(name, Value, MLP, builtins.sum, recursive=True, gc_off=name.endswith("gc-off"),
                  version=_distribution_version("micrograd"))


def _distribution_version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:                  # no metadata (a source checkout): still usable
        return "unknown"


def _torch(name):
    import torch

    from .tinynn import make_mlp

    def Value(x):
        return torch.tensor(float(x), dtype=torch.float64, requires_grad=True)

    return Engine(name, Value, make_mlp(Value, zero=None), builtins.sum,
                  grad=lambda v: 0.0 if v.grad is None else v.grad.item(),
                  data=lambda v: v.item(), backward=lambda v: v.backward(retain_graph=True),
                  meter="rss", version=torch.__version__)


def _floor(name, path=None):
    from . import floor
    try:
        module = floor.load(path)
    except ImportError:                # no cffi: "not installed", as for the other engines
        raise
    except Exception as exc:           # no compiler, no setuptools, a failed build: a note
        raise ImportError(f"could not compile the hand-written C: {type(exc).__name__}: {exc}"[:300]) from exc
    return Engine(name, None, None, None, version="hand-written C, -O2", floor=module)


LOADERS = {"c": _pygrad, "floor": _floor, "python": _pygrad, "micrograd": _micrograd,
           "micrograd-gc-off": _micrograd, "torch": _torch}


def floor_module_path(engines):
    """Where the loaded floor's module is (for worker processes), or None."""
    return next((e.floor.path for e in engines if e.floor is not None), None)


def expand(names):
    """CLI names -> engine names in report order; 'micrograd' brings its GC-off twin."""
    wanted = set(names)
    if "micrograd" in wanted:
        wanted.add("micrograd-gc-off")
    unknown = wanted - set(ORDER)
    if unknown:
        raise ValueError(f"unknown engine(s) {', '.join(sorted(unknown))}; choose from {', '.join(ORDER)}")
    return [n for n in ORDER if n in wanted]


def load(names, floor_path=None):
    """(engines that loaded, {name: why not}) for the engines named.
    floor_path: the floor already compiled by this run (worker processes)."""
    engines, missing = [], {}
    for name in names:
        try:
            if name == "floor":
                engines.append(_floor(name, floor_path))
            else:
                engines.append(LOADERS[name](name))
        except ImportError as exc:
            missing[name] = f"not installed ({exc})" if "No module named" in str(exc) else f"unavailable: {exc}"
    return engines, missing


def gc_state(eng):
    """A context for one timed sample: GC as users have it, or off for *-gc-off."""
    return _GcOff() if eng.gc_off else _Nothing()


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _GcOff:
    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self.was:
            gc.enable()
        return False
