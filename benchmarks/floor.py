"""The floor (floor.c) from Python: compiled at run time with exactly the C
core's flags, a recording `Value` that captures a graph builder's graph as
flat arrays, and handles to differentiate that graph and to train the demo
MLP in plain C."""
import atexit
import importlib.util
import os
import random
import runpy
import shutil
import tempfile
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_SCRIPT = os.path.join(os.path.dirname(HERE), "pygrad", "_build.py")

CDEF = """
typedef struct fl_graph fl_graph;
fl_graph *fl_graph_new(int64_t n, const int32_t *op, const int32_t *a, const int32_t *b, const double *data);
void fl_graph_free(fl_graph *g);
void fl_backward(fl_graph *g, int32_t root);
double fl_grad(const fl_graph *g, int32_t id);
double fl_train_step(int32_t nlayers, const int32_t *sizes, int64_t np, double *params, double *grad,
                     int64_t n, const double *X, const double *y, double alpha, double lr);
double fl_train_step_lanes(int32_t nlayers, const int32_t *sizes, int64_t np, double *params, double *grad,
                           int64_t n, const double *X, const double *y, double alpha, double lr);
"""


def build_settings(path=BUILD_SCRIPT):
    """(compile flags, libraries) the build script gives the C core on this
    platform, without the sanitizer's flags: it is run, and its cffi builder
    asked (cffi keeps set_source's arguments in `_assigned_source`)."""
    build = runpy.run_path(path)
    kwargs = build["ffibuilder"]._assigned_source[3]
    flags = [f for f in kwargs["extra_compile_args"] if f not in build.get("SANITIZE", [])]
    return flags, kwargs.get("libraries", [])


def load():
    """Compile floor.c into a temporary folder (removed at exit) and import it.
    Raises where there is no C compiler: the caller reports the floor missing."""
    from cffi import FFI
    flags, libraries = build_settings()
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source("_pygrad_bench_floor", CDEF, sources=[os.path.join(HERE, "floor.c")],
                   extra_compile_args=flags, libraries=libraries)
    tmp = tempfile.mkdtemp(prefix="pygrad-floor-")
    atexit.register(shutil.rmtree, tmp, True)
    path = ffi.compile(tmpdir=tmp, verbose=False)
    spec = importlib.util.spec_from_file_location("_pygrad_bench_floor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- backward: record a graph, then differentiate it in C ---------------------

LEAF, ADD, MUL, RELU = 0, 1, 2, 3          # enum in floor.c


class Tape:
    """Node i is (op[i], a[i], b[i], data[i]); children come before parents."""

    def __init__(self):
        self.op, self.a, self.b, self.data = array("i"), array("i"), array("i"), array("d")

    def node(self, op, a, b, data):
        self.op.append(op), self.a.append(a), self.b.append(b), self.data.append(data)
        return Node(self, len(self.op) - 1, data)

    def leaf(self, x):
        return self.node(LEAF, -1, -1, float(x))


class Node:
    """A micrograd-shaped Value that records: one node per op, numbers become leaves."""
    __slots__ = ("tape", "i", "data")

    def __init__(self, tape, i, data):
        self.tape, self.i, self.data = tape, i, data

    def _node(self, other):
        return other if isinstance(other, Node) else self.tape.leaf(other)

    def __add__(self, other):
        other = self._node(other)
        return self.tape.node(ADD, self.i, other.i, self.data + other.data)

    def __mul__(self, other):
        other = self._node(other)
        return self.tape.node(MUL, self.i, other.i, self.data * other.data)

    def __radd__(self, other):              # sum()'s 0 + first term
        return self._node(other) + self

    def relu(self):
        return self.tape.node(RELU, self.i, -1, 0.0 if self.data < 0 else self.data)


class Graph:
    """A recorded tape copied into floor.c's node array."""

    def __init__(self, mod, tape):
        self.lib, buf = mod.lib, mod.ffi.from_buffer
        g = self.lib.fl_graph_new(len(tape.op), buf("int32_t[]", tape.op), buf("int32_t[]", tape.a),
                                  buf("int32_t[]", tape.b), buf("double[]", tape.data))
        if g == mod.ffi.NULL:
            raise MemoryError(f"floor graph of {len(tape.op):,} nodes")
        self.g = mod.ffi.gc(g, self.lib.fl_graph_free)

    def backward(self, root):
        self.lib.fl_backward(self.g, root.i)

    def grad(self, node):
        return self.lib.fl_grad(self.g, node.i)


# -- micrograd's demo train step in C -------------------------------------------


def init_params(sizes, seed=1337):
    """micrograd's MLP initialisation, flat: after random.seed(seed), each
    neuron draws its weights from uniform(-1, 1), and its bias is 0."""
    random.seed(seed)
    params = []
    for nin, nout in zip(sizes, sizes[1:]):
        for _ in range(nout):
            params += [random.uniform(-1, 1) for _ in range(nin)] + [0.0]
    return params


def trainer(mod, sizes, X, y, alpha, lanes=False):
    """The demo step in C on rows X (n, sizes[0]) with labels y (-1 or +1):
    step(lr) -> the loss before the update. lanes=True: the floor that runs
    8 rows at a time in vector lanes (the same bits)."""
    ffi, lib, params = mod.ffi, mod.lib, init_params(sizes)
    step = lib.fl_train_step_lanes if lanes else lib.fl_train_step
    c_sizes, p, grad = ffi.new("int32_t[]", list(sizes)), ffi.new("double[]", params), ffi.new("double[]", len(params))
    c_X, c_y = ffi.new("double[]", [float(v) for row in X for v in row]), ffi.new("double[]", [float(v) for v in y])
    return lambda lr: step(len(sizes) - 1, c_sizes, len(params), p, grad, len(y), c_X, c_y, alpha, lr)
