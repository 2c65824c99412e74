"""cffi build script (API mode, out-of-line), named in setup.py's cffi_modules.

The cdef is read from csrc/pygrad.h, between its CDEF markers, so the C
contract is written once.
"""
import importlib.util
import os
import re
import sys

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(ROOT, "csrc", "pygrad.h")
# In layer order: each file uses only the ones before it.
SOURCES = ["csrc/cancel.c", "csrc/nodes.c", "csrc/ops.c", "csrc/graph.c", "csrc/dense.c", "csrc/backward.c",
           "csrc/fuse.c", "csrc/layers.c", "csrc/lanes.c", "csrc/rowmats.c", "csrc/rows.c", "csrc/opruns.c",
           "csrc/sides.c", "csrc/program.c", "csrc/optim.c", "csrc/gradgraph.c"]

# cffi's stock wrappers release the GIL around every call. For calls that
# take 10-100 ns that is most of their cost, and with a second Python thread
# running, every release hands the GIL away for a whole switch interval
# (the "convoy"). pygrad keeps the GIL held instead: the wrappers' macros are
# emptied here, after Python.h and before the generated wrappers. The core
# then needs no lock of its own: the GIL serializes every call into it.
KEEP_GIL = """
#ifdef Py_GIL_DISABLED
#error "pygrad's C core is serialized by the GIL; free-threaded CPython is not supported"
#endif
#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#define Py_END_ALLOW_THREADS }
#undef _cffi_restore_errno
#undef _cffi_save_errno
#define _cffi_restore_errno() ((void)0)
#define _cffi_save_errno() ((void)0)
"""

# The cancel hook (pg_set_cancel_hook in pygrad.h): long calls into the core
# run Python's signal handlers every few thousand nodes or rows, so Ctrl-C
# stops them. The GIL is held (above), so PyErr_CheckSignals may be called.
# A cffi call must not return with a Python exception set, so the one a
# handler raised (KeyboardInterrupt, or any other) is parked in
# pygrad._errors.pending, and the call returns PG_EINTR, which raises it.
# PyPy builds this module without CPython's C API: no hook there.
CANCEL_HOOK = """
#ifndef PYPY_VERSION
/* Move the Python exception set now into pygrad._errors.pending (the C
 * handle's backward hook parks a user's _backward's exception so too). */
static void pygrad_park_exception(void) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL) PyException_SetTraceback(value, tb);
    PyObject *errors = PyImport_ImportModule("pygrad._errors");
    if (errors == NULL || value == NULL || PyObject_SetAttrString(errors, "pending", value) != 0)
        PyErr_Clear();   /* then pygrad raises a plain KeyboardInterrupt */
    Py_XDECREF(errors);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}
static int pygrad_check_signals(void) {
    if (PyErr_CheckSignals() == 0) return 0;
    pygrad_park_exception();
    return 1;
}
static void pygrad_install_cancel_hook(void) { pg_set_cancel_hook(pygrad_check_signals); }
#else
static void pygrad_install_cancel_hook(void) { pg_set_cancel_hook(NULL); }
#endif
"""


def pypy_lock(cdef):
    """C for PyPy only: every function of the cdef behind one mutex.

    PyPy's cffi releases the GIL around every C call (KEEP_GIL works only
    on CPython's generated wrappers), so there the core would run in two
    threads at once. Each function `f` gets a locked twin, and `#define f`
    points cffi's calls at it. Finalizers never run inside a C call, so the
    lock is never taken twice by one thread."""
    text = re.sub(r"/\*.*?\*/", "", cdef, flags=re.S)
    out = ["#ifdef PYPY_VERSION", "#ifdef _WIN32", "#include <windows.h>",
           "static SRWLOCK pg_pypy_lock = SRWLOCK_INIT;",
           "#define PG_LOCK() AcquireSRWLockExclusive(&pg_pypy_lock)",
           "#define PG_UNLOCK() ReleaseSRWLockExclusive(&pg_pypy_lock)",
           # Recursive: the backward hook runs Python, which calls the core, inside pg_backward.
           "#else", "#include <pthread.h>", "static pthread_mutex_t pg_pypy_lock;",
           "#define PG_LOCK() pthread_mutex_lock(&pg_pypy_lock)",
           "#define PG_UNLOCK() pthread_mutex_unlock(&pg_pypy_lock)",
           # fork() waits until no thread is inside the core; the parent
           # unlocks, and the child makes the lock anew: a recursive mutex
           # belongs to the thread that took it, which the child lacks (its
           # unlock would fail, and the child's first call would wait forever).
           "static void pg_pypy_lock_init(void) {",
           "    pthread_mutexattr_t attr;",
           "    pthread_mutexattr_init(&attr);",
           "    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);",
           "    pthread_mutex_init(&pg_pypy_lock, &attr);",
           "    pthread_mutexattr_destroy(&attr);",
           "}",
           "static void pg_pypy_lock_all(void) { PG_LOCK(); }",
           "static void pg_pypy_unlock_all(void) { PG_UNLOCK(); }",
           "__attribute__((constructor)) static void pg_pypy_at_fork(void) {",
           "    pg_pypy_lock_init();",
           "    pthread_atfork(pg_pypy_lock_all, pg_pypy_unlock_all, pg_pypy_lock_init);",
           "}", "#endif"]
    for ret, name, args in re.findall(r"([A-Za-z_][\w \t\*]*?)\s*\b(pg_\w+)\s*\(([^;{}]*?)\)\s*;", text):
        if "(" in args:     # takes a function pointer: the hook setter, called once at import
            continue
        ret = " ".join(ret.split())
        params = [] if args.strip() in ("", "void") else [a.strip() for a in args.split(",")]
        names = ", ".join(re.findall(r"(\w+)\s*(?:\[\s*\])?$", a)[0] for a in params)
        call = f"{name}({names})"
        body = f"{call}; PG_UNLOCK();" if ret == "void" else f"{ret} r = {call}; PG_UNLOCK(); return r;"
        out.append(f"static {ret} {name}_locked({', '.join(params) or 'void'}) {{ PG_LOCK(); {body} }}")
        out.append(f"#define {name} {name}_locked")
    out.append("#endif")
    return "\n".join(out) + "\n"


def read_cdef(path=HEADER):
    with open(path) as f:
        text = f.read()
    match = re.search(r"/\* BEGIN CDEF \*/(.*)/\* END CDEF \*/", text, re.S)
    if match is None:
        raise RuntimeError(f"no CDEF markers in {path}")
    return match.group(1)


# PYGRAD_SANITIZE=1 builds the core with AddressSanitizer and UBSan
# (scripts/sanitize.sh); any UB report then aborts the run.
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer", "-g"] if os.environ.get("PYGRAD_SANITIZE") == "1" else []

# The cell that owns a compiled program from before pg_compile returns
# (pygrad/_cprogram.py): ffi.gc frees what it holds with this C function.
# A Python destructor would be a frame where Ctrl-C can strike, and be lost.
# (After pypy_lock in the source: PyPy's pg_program_free is the locked twin.)
PROGRAM_CELL = """
static void pygrad_free_program_cell(pg_program **cell) { pg_program_free(*cell); }
"""


def unary_method_rows():
    """C for _handle.c's PG_HANDLE_UNARY: one row X(name, PG_OP, "doc") per
    unary method of pygrad/_ops.py's table (loaded by path: the package
    cannot be imported before its core is built), with the docstring of
    _api.ValueBase's method of that name."""
    spec = importlib.util.spec_from_file_location("_pygrad_ops_table", os.path.join(ROOT, "pygrad", "_ops.py"))
    assert spec is not None and spec.loader is not None
    ops = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ops)
    with open(os.path.join(ROOT, "pygrad", "_api.py")) as f:
        api = f.read()
    rows = []
    for name, code in ops.UNARY.items():
        if name.startswith("__"):    # -a, abs(a): number slots of the type, not methods
            continue
        doc = re.search(rf'def {name}\(self\) -> "ValueBase":\s*"""(.*?)"""', api, re.S)
        if doc is None:
            raise RuntimeError(f"_api.ValueBase has no method {name} with a docstring")
        text = doc.group(1).replace("\\", "\\\\").replace('"', '\\"')
        rows.append(f'    X({name}, PG_{ops.TABLE[code].name.upper()}, "{text}")')   # C checks the name
    return "#define PG_HANDLE_UNARY(X) \\\n" + " \\\n".join(rows) + "\n"


# The C engine's Value handle as a CPython type (see the file): binding
# code beside the wrappers, not part of the core.
with open(os.path.join(ROOT, "pygrad", "_handle.c")) as f:
    HANDLE = unary_method_rows() + f.read()

# Which dense-layer kernels run (csrc/layers.c, PYGRAD_SIMD): for tests
# and diagnostics only, so declared here rather than in the core's header.
SIMD_CDEF = """
const char *pg_simd_path(void);   /* "scalar", "vec2" or "avx": the kernels in use */
const char *pg_simd_best(void);   /* the fastest this build and CPU can run */
"""

CDEF = read_cdef()
ffibuilder = FFI()
# The backward hook (pg_set_backward_hook) is a cffi callback into
# pygrad.cengine, on CPython and PyPy alike.
ffibuilder.cdef(CDEF + SIMD_CDEF + "void pygrad_install_cancel_hook(void);\nint pygrad_publish_handle(void);\n"
                "void pygrad_free_program_cell(pg_program **cell);\n"
                'extern "Python" int pygrad_backward_hook(int32_t);')
ffibuilder.set_source(
    "pygrad._pygrad",
    '#include "pygrad.h"\n' + SIMD_CDEF + KEEP_GIL + CANCEL_HOOK + pypy_lock(CDEF + SIMD_CDEF) + PROGRAM_CELL
    + HANDLE,
    sources=SOURCES,
    include_dirs=["csrc"],
    depends=["csrc/pygrad.h", "csrc/core.h", "csrc/ops.def", "csrc/program.h", "csrc/vec.h", "csrc/layer_kernels.h",
             "csrc/rowmat_kernels.h", "csrc/families.h", "pygrad/_build.py", "pygrad/_handle.c", "pygrad/_ops.py",
             "pygrad/_api.py"],
    # -O3: measured 10-15% faster sweeps than -O2 (benchmarks/). It changes no
    # result: without -ffast-math the compiler may not reassociate, and
    # -ffp-contract=off forbids fused multiply-adds, so sums round exactly
    # as in Python and results are the same on every machine.
    # -fvisibility=hidden: the core's functions are called only from this
    # module, so calls between its files go direct, not through the PLT
    # (only PyInit__pygrad is exported).
    # MSVC (Windows) takes its own flags and has no libm; its /fp:precise
    # does not contract either.
    extra_compile_args=(["/O2", "/std:c11", "/fp:precise", "/W3"] if sys.platform == "win32" else
                        ["-O3", "-std=c11", "-ffp-contract=off", "-fvisibility=hidden", "-Wall", "-Wextra"]
                        + SANITIZE),
    extra_link_args=SANITIZE,
    libraries=[] if sys.platform == "win32" else ["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
