"""Compile the floors (backward.c, train_step.c) with cffi's API mode into
a temporary folder, and import the result.

The flags are the C core's (pygrad/_build.py): -O2, and no fused
multiply-add, so the floors round exactly as pygrad does; the comparison
is then between designs, not compiler settings.
"""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("backward.c", "train_step.c")
MODULE = "_pygrad_bench_floor"
FLAGS = ["-O2", "-std=c11", "-ffp-contract=off"]

CDEF = """
typedef struct fl_graph fl_graph;
fl_graph *fl_graph_new(int64_t n, const int32_t *op, const int32_t *a, const int32_t *b,
                       const double *data);
void fl_graph_free(fl_graph *g);
int64_t fl_backward(fl_graph *g, int32_t root, double *split);
void fl_grads(const fl_graph *g, int64_t k, const int32_t *ids, double *out);

double fl_train_step(int32_t nlayers, const int32_t *sizes, double *params, double *grad,
                     int64_t n, const double *X, const double *y, double alpha, double lr);
int fl_forward_batch(int32_t nlayers, const int32_t *sizes, const double *params,
                     int64_t n, const double *X, const double *y, double *out);
"""


def compile_floor(tmpdir):
    """Build the extension in `tmpdir`; returns its path. Raises (cffi's
    VerificationError, distutils' CompileError, ImportError...) where no
    compiler or no cffi is available."""
    from cffi import FFI
    ffi = FFI()
    ffi.cdef(CDEF)
    # The declarations are plain C as well: they are the wrappers' preamble.
    ffi.set_source(MODULE, CDEF, sources=[os.path.join(HERE, s) for s in SOURCES],
                   extra_compile_args=FLAGS)
    return ffi.compile(tmpdir=tmpdir, verbose=False)


def import_floor(path):
    """The compiled module (with .ffi and .lib) at `path`."""
    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the floor from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
