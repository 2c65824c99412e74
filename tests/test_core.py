"""The C contract (csrc/pygrad.h) driven directly through ffi: what the
core itself guarantees, below the Python wrappers."""
import gc
import math
import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest

from pygrad._ffi import ffi, lib
from pygrad._ops import CODES

NEG, MUL = CODES["neg"], CODES["mul"]

pytestmark = pytest.mark.skipif(lib is None, reason="C core not built")


def test_grad_mode_is_per_thread():
    """pg_set_grad_enabled(0) in one thread leaves every other thread
    building graphs; each thread starts with grad mode on."""
    off, checked, seen = threading.Event(), threading.Event(), {}

    def worker():
        seen["start"] = lib.pg_set_grad_enabled(0)   # previous setting: on
        off.set()
        checked.wait()
        x = lib.pg_leaf(2.0)
        y = lib.pg_unary(NEG, x)   # neg: a leaf while off
        seen["worker_op"] = lib.pg_op(y)
        lib.pg_decref(y)
        lib.pg_decref(x)

    t = threading.Thread(target=worker)
    t.start()
    off.wait()
    x = lib.pg_leaf(2.0)
    y = lib.pg_unary(NEG, x)
    main_op = lib.pg_op(y)
    checked.set()
    t.join()
    lib.pg_decref(y)
    lib.pg_decref(x)
    assert seen["start"] == 1
    assert main_op == NEG           # this thread still builds a graph
    assert seen["worker_op"] == 0  # the other made a leaf


# -- memory follows the graph ------------------------------------------------------

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def chain(n):
    """x * x * ... (n ops) built directly in the core; returns (root, x) ids."""
    x = acc = lib.pg_leaf(1.0000001)
    lib.pg_incref(x)
    for _ in range(n):
        nxt = lib.pg_binary(MUL, acc, x)
        assert nxt >= 0
        lib.pg_decref(acc)
        acc = nxt
    return acc, x


def resident_after_a_dropped_graph(n):
    root, x = chain(1000)          # warm up: a small graph and its backward
    lib.pg_backward(root)
    lib.pg_decref(root), lib.pg_decref(x)
    gc.collect()
    before = rss_mib()
    root, x = chain(n)
    assert lib.pg_backward(root) == 0
    stats = ffi.new("pg_stats_t *")
    lib.pg_stats(stats)
    lib.pg_decref(root), lib.pg_decref(x)
    return before, stats.pool_bytes, rss_mib()


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.parametrize("n", [pytest.param(1_000_000), pytest.param(10_000_000, marks=pytest.mark.slow)])
def test_resident_memory_returns_after_a_big_graph_is_dropped(n):
    """The pool and the sort's scratch give their memory back: resident
    memory ends within 10% of what it was before the graph was built."""
    before, pool_bytes, after = resident_after_a_dropped_graph(n)
    assert pool_bytes >= n * 32                      # the graph did take its 32 B per node
    assert after <= before * 1.10, (before, pool_bytes, after)


def test_the_core_recovers_from_running_out_of_memory():
    """A backward whose sort runs out of memory (address space limited) raises
    MemoryError; once its graph is dropped, a 2-node backward works again:
    the sort's scratch follows the graph sorted, not the largest pool."""
    code = textwrap.dedent("""
        import resource
        import pygrad
        from pygrad._ffi import ffi, lib
        from pygrad._ops import CODES
        V = pygrad.value_class("c")
        x = acc = lib.pg_leaf(1.0000001)
        lib.pg_incref(x)
        for _ in range(1_000_000):
            nxt = lib.pg_binary(CODES["mul"], acc, x)
            lib.pg_decref(acc)
            acc = nxt
        # A root with two children that are not leaves: backward sorts (a
        # chain alone is swept as it is walked, with no scratch).
        y = lib.pg_binary(CODES["mul"], x, x)
        nxt = lib.pg_binary(CODES["mul"], acc, y)
        lib.pg_decref(acc)
        lib.pg_decref(y)
        acc = nxt
        root = pygrad.cengine._new(V)  # a handle with no node yet ...
        pygrad.cengine._own(root, acc) # ... given the chain's (pygrad's own path: _id is read-only)
        with open("/proc/self/statm") as f:
            vm = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (vm + 4 * 2**20, resource.RLIM_INFINITY))
        try:
            root.backward()
            print("no MemoryError")
        except MemoryError:
            pass
        del root
        a, b = V(2.0), V(3.0)
        c = a * b
        c.backward()
        print(a.grad, b.grad)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3.0", "2.0"]


# -- every exported function checks its pointers and ids ------------------------

def contract_functions():
    """{name: (return type, [(param type, param name)])} for every function of
    the C contract, read from pygrad.h's cdef (so a new function is not missed)."""
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "csrc", "pygrad.h")
    with open(header) as f:
        cdef = re.search(r"/\* BEGIN CDEF \*/(.*)/\* END CDEF \*/", f.read(), re.S).group(1)
    text = re.sub(r"/\*.*?\*/", " ", cdef, flags=re.S)
    functions = {}
    for m in re.finditer(r"([A-Za-z_][\w \*]*?)\b(pg_\w+)\s*\(([^;]*?)\)\s*;", text):
        ret, name, params = " ".join(m.group(1).split()), m.group(2), m.group(3).strip()
        if ret.startswith("typedef"):
            continue
        parsed = []
        if params != "void":
            for p in params.split(","):
                p = " ".join(p.split())
                if "(*" in p:   # a function pointer: int (*hook)(void)
                    parsed.append(("fnptr", re.search(r"\(\*(\w+)\)", p).group(1)))
                else:
                    pname = re.search(r"(\w+)$", p).group(1)
                    parsed.append((p[: -len(pname)].strip(), pname))
        functions[name] = (ret, parsed)
    return functions


ID_PARAMS = {"a", "b", "id", "root"}      # int32_t parameters that name a node


def checked_params(params):
    """The parameters a bad value can be given: pointers and node ids."""
    return [name for ptype, name in params
            if ptype != "fnptr" and ("*" in ptype or (ptype == "int32_t" and name in ID_PARAMS))]


@pytest.fixture
def graph():
    """A leaf x, y = x * x, a program of y over input x, and c, a user's op
    over x (local gradient 2.0)."""
    x = lib.pg_leaf(2.0)
    y = lib.pg_binary(MUL, x, x)
    c = lib.pg_custom(1.0, 1, ffi.new("int32_t[]", [x]), ffi.new("double[]", [2.0]))
    out = ffi.new("pg_program **")
    assert lib.pg_compile(y, 1, ffi.new("int32_t[]", [x]), 0, ffi.NULL, out) == 0
    program = out[0]
    yield x, y, program, c
    lib.pg_program_free(program)
    for node in (c, y, x):
        lib.pg_decref(node)


def valid_args(graph):
    """For each function, arguments that work (ids, arrays and programs that exist)."""
    x, y, program, c = graph
    ids = ffi.new("int32_t[]", [x, x])
    d1, d2 = ffi.new("double[]", 2), ffi.new("double[]", 2)
    return {
        "pg_num_ops": {}, "pg_op_name": {"op": MUL}, "pg_op_arity": {"op": MUL},
        "pg_leaf": {"data": 1.0},
        "pg_unary": {"op": NEG, "a": x},
        "pg_binary": {"op": MUL, "a": x, "b": y},
        "pg_binary_k": {"op": MUL, "a": x, "k": 2.0, "k_first": 0},
        "pg_nary": {"op": CODES["sum"], "n": 2, "kids": ids},
        "pg_custom": {"data": 1.0, "n": 2, "kids": ids, "local": ffi.NULL},
        "pg_dense": {"nout": 1, "nin": 1, "w": ids, "x": ids, "b": ids, "relu": 0, "out": ffi.new("int32_t[1]")},
        "pg_set_grad_enabled": {"on": 1},
        "pg_set_cancel_hook": {"hook": ffi.NULL},
        "pg_set_backward_hook": {"hook": lib.pygrad_backward_hook},   # (the one installed)
        "pg_backward": {"root": y}, "pg_backward_node": {"id": y},
        "pg_data": {"id": x}, "pg_grad": {"id": x},
        "pg_set_data": {"id": x, "x": 2.0}, "pg_set_grad": {"id": x, "g": 0.0},
        "pg_op": {"id": y}, "pg_nkids": {"id": y}, "pg_refs": {"id": y}, "pg_kid": {"id": y, "i": 0},
        "pg_incref": {"id": x}, "pg_decref": {"id": x},   # (run as a pair below)
        "pg_release_unowned": {},
        "pg_compile": {"root": y, "ninputs": 1, "inputs": ids, "nparams": 0, "params": ffi.NULL,
                       "out": ffi.new("pg_program **")},
        "pg_compile_guarded": {"root": y, "ninputs": 1, "inputs": ids, "nparams": 0, "params": ffi.NULL,
                               "nguards": 1, "guards": ffi.new("int32_t[]", [x, -1, 2, 1]),
                               "consts": ffi.new("double[]", [0.0]), "out": ffi.new("pg_program **")},
        "pg_compile_custom": {"root": c, "ninputs": 1, "inputs": ids, "nparams": 0, "params": ffi.NULL,
                              "nguards": 1, "guards": ffi.new("int32_t[]", [x, -1, 2, 1]),
                              "consts": ffi.new("double[]", [0.0]), "ncustom": 1,
                              "customs": ffi.new("int32_t[]", [c, y, x]), "ncustom_ints": 3,
                              "out": ffi.new("pg_program **")},
        "pg_program_failed_guard": {"p": program},
        "pg_program_set_exact": {"p": program, "exact": 1},
        "pg_program_depends": {"p": program},
        "pg_program_free": {"p": ffi.NULL},
        "pg_program_size": {"p": program},
        "pg_program_held_constants": {"p": program, "max": 2, "ids": ffi.new("int32_t[2]")},
        "pg_program_run": {"p": program, "nrows": 2, "batch": d1, "out": d2, "backward": 0, "scale": 1.0,
                           "bad_row": ffi.new("int64_t *")},
        "pg_grad_graph": {"root": y, "seed": -1, "ninputs": 1, "inputs": ids, "out": ffi.new("int32_t[2]")},
        "pg_grad_numbers": {"root": y, "seed": 1.0, "ninputs": 1, "inputs": ids, "out": ffi.new("double[2]")},
        "pg_grad_numbers_many": {"nroots": 1, "roots": ffi.new("int32_t[]", [y]), "seeds": ffi.new("double[]", [1.0]),
                                 "ninputs": 1, "inputs": ids, "out": ffi.new("double[2]")},
        "pg_fill_grad": {"n": 2, "ids": ids, "g": 0.0},
        "pg_sgd_step": {"n": 2, "ids": ids, "frozen": ffi.NULL, "lr": 0.0, "momentum": 0.5, "weight_decay": 0.0,
                        "velocity": d1},
        "pg_adam_step": {"n": 2, "ids": ids, "frozen": ffi.NULL, "lr": 0.0, "beta1": 0.9, "beta2": 0.99,
                         "eps": 1e-8, "weight_decay": 0.0, "decoupled": 0, "t": 1, "m": d1, "v": d2},
        "pg_stats": {"out": ffi.new("pg_stats_t *")},
    }


def refused(ret, result):
    """Whether a call's result says 'invalid argument', by the contract's conventions."""
    if ret == "int":
        return result in (5, -1)              # PG_EINVAL, or -1 from pg_op/pg_nkids
    if ret in ("int32_t", "int64_t"):
        return result in (-5, -1)             # -PG_EINVAL, or -1 from pg_program_size
    if ret == "double":
        return math.isnan(result)
    if ret == "const char *":
        return result == ffi.NULL
    return True                               # void: it returned, which is the point


def test_every_contract_function_has_valid_arguments_here(graph):
    functions = contract_functions()
    assert len(functions) > 30
    assert set(valid_args(graph)) == set(functions)
    for name, (_, params) in functions.items():
        assert list(valid_args(graph)[name]) == [p for _, p in params], name


def test_every_pointer_and_id_is_checked(graph):
    """Each function, called with valid arguments except one pointer (NULL)
    or one node id (-1, or one never handed out; also inside an array of
    ids), returns its 'invalid' result (PG_EINVAL, -PG_EINVAL, NaN or NULL) and changes nothing: no
    crash, and the core's node count stays."""
    functions = contract_functions()
    live = ffi.new("pg_stats_t *")
    lib.pg_stats(live)
    before = live.live
    wrong = []
    for name, (ret, params) in sorted(functions.items()):
        for bad_param in checked_params(params):
            ptype = dict((n, t) for t, n in params)[bad_param]
            if "*" not in ptype:
                bads = [-1, 1 << 30]
            elif ptype == "const int32_t *":   # an array of node ids: NULL, or holding a bad id
                bads = [ffi.NULL, ffi.new("int32_t[]", [-1, 1 << 30])]
            else:
                bads = [ffi.NULL]
            for bad in bads:
                args = dict(valid_args(graph)[name])
                if args[bad_param] == ffi.NULL:
                    continue                   # NULL is valid there (no params, no program)
                args[bad_param] = bad
                result = getattr(lib, name)(*args.values())
                if not refused(ret, result):
                    wrong.append(f"{name}({bad_param}={bad}) -> {result}")
    lib.pg_stats(live)
    assert wrong == []
    assert live.live == before
    assert lib.pg_stats(ffi.NULL) == 5


def test_c_files_are_layered_one_way():
    """Each C file calls only functions defined in the files before it in the
    build's source list (the pool, then the op rules, then graph building,
    ...): the dependency picture of csrc/ has no cycle."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
    with open(os.path.join(root, "pygrad", "_build.py")) as f:
        listed = re.search(r"SOURCES = \[(.*?)\]", f.read(), re.S).group(1)
    files = re.findall(r'"csrc/(\w+\.c)"', listed)
    assert sorted(files) == sorted(f for f in os.listdir(os.path.join(root, "csrc")) if f.endswith(".c"))
    code, defined_in = {}, {}
    for name in files:
        with open(os.path.join(root, "csrc", name)) as f:
            text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", f.read(), flags=re.S)
        code[name] = text
        for fn in re.findall(r"^[a-z][\w \*]*?\b(pg_\w+)\s*\([^;{]*\)\s*\{", text, re.M):
            defined_in[fn] = name
    wrong = []
    for i, name in enumerate(files):
        for fn in set(re.findall(r"\b(pg_\w+)\s*\(", code[name])):
            home = defined_in.get(fn, name)
            if files.index(home) > i:
                wrong.append(f"{name} calls {fn} of {home}, a later layer")
    assert wrong == []
