"""--engine module:Class: benchmark any micrograd-style Value class beside
pygrad's. It runs the eager workloads that need only + * - ** relu (tanh and
exp where it has them) and backward, after its value and gradients on a
small expression have been checked against pygrad's reference engine: a
class that computes other numbers is refused, since its times would be
times of something else."""
import importlib
import importlib.util
import math
import os

from .harness import Engine

REL_TOL, ABS_TOL = 1e-9, 1e-12      # tanh and exp may differ in the last bits between implementations


class Refused(ValueError):
    """The class cannot be benchmarked; the message says why."""


def import_class(spec):
    """The class named by `module:Class` (a dotted module, or a path to a .py file)."""
    module_name, sep, name = spec.rpartition(":")
    if not sep or not module_name or not name:
        raise Refused(f"--engine wants module:Class (or path/to/file.py:Class), got {spec!r}")
    try:
        if module_name.endswith(".py"):
            where = importlib.util.spec_from_file_location(os.path.basename(module_name)[:-3], module_name)
            if where is None or not os.path.exists(module_name):
                raise ImportError(f"no file {module_name}")
            module = importlib.util.module_from_spec(where)
            where.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as exc:              # ImportError, or whatever the module raised (SyntaxError too)
        raise Refused(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, name, None)
    if not callable(cls):
        raise Refused(f"{module_name} has no class {name}")
    return cls, getattr(module, "__version__", "")


OPTIONAL = ("tanh", "exp")    # micrograd's own Value has neither; no eager workload needs them


def probe(V, extra):
    """(output, leaves) of an expression using + * - ** relu and the `extra`
    methods, with relu on both sides of 0 and leaves reused (their grads add up)."""
    a, b, c = V(0.7), V(-1.3), V(0.4)
    d = a * b + c
    f = (d * -1.0).relu() + b.relu() + (a * c).relu()
    for name, x in zip(OPTIONAL, (a * c, b * 0.5)):
        if name in extra:
            f = f + getattr(x, name)()
    return (d - a) ** 2 * f - c * 3.0, [a, b, c]


def disagreement(V):
    """None if V gives the reference engine's value and gradients on `probe`, else why not."""
    import pygrad
    extra = [name for name in OPTIONAL if callable(getattr(V, name, None))]
    ref_out, ref_leaves = probe(pygrad.value_class("python"), extra)
    ref_out.backward()
    try:
        out, leaves = probe(V, extra)
        out.backward()
        got = [("the value", float(out.data), ref_out.data)] + [
            (f"d/d{n}", float(x.grad), r.grad) for n, x, r in zip("abc", leaves, ref_leaves)]
    except Exception as exc:              # a missing operator, a broken backward...
        return f"it fails on {' '.join(['+ * - ** relu', *extra, 'backward'])}: {type(exc).__name__}: {exc}"
    for what, mine, ref in got:
        if not math.isclose(mine, ref, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            return f"{what} of a test expression is {mine!r}, where pygrad's reference engine gives {ref!r}"
    return None


def load(spec):
    """The Engine for `spec`, checked; raises Refused with the reason."""
    cls, version = import_class(spec)
    why = disagreement(cls)
    if why:
        raise Refused(f"{spec} is not benchmarked: {why}")
    return Engine(spec, cls, None, version=version, recursive=True)   # its backward may recurse, as micrograd's
