"""The floors: hand-written C doing a workload's arithmetic with nothing
around it, timed beside the engines so each C-engine number has a
"how far from the best plain C does" ratio (issue 3: backward within 2x;
issue 5: a compiled train step within 3x).

- backward.c: a graph as one array of 32-byte nodes, an iterative DFS
  topological sort and a reverse sweep, on the graphs the backward
  workloads build (recorded by recorder.py from the same builders);
- train_step.c: micrograd's demo step (MLP(2, [16, 16, 1]), hinge loss,
  L2, SGD) by hand, with the arithmetic of pygrad's compiled step.

They are compiled when the benchmark runs (cffi API mode, into a temporary
folder); without a C compiler the floor is skipped with a note. One run
compiles once and hands the module's path to its worker processes.
"""
import atexit
import shutil
import tempfile

from .build import compile_floor, import_floor


def load(path=None):
    """The compiled floor module (.ffi, .lib, .path): imported from `path`,
    or compiled now into a temporary folder removed when this process exits."""
    if path is None:
        tmp = tempfile.mkdtemp(prefix="pygrad-bench-floor-")
        atexit.register(shutil.rmtree, tmp, True)
        path = compile_floor(tmp)
    module = import_floor(path)
    module.path = path
    return module
