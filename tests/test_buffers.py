"""Buffers that Python hands to C as double[]: the wrong item type, length
or layout is converted or refused, never read or written as doubles.

Each array under test is a window into a bigger one filled with a
sentinel, so a write past the window's end (a float32 array holds half
the bytes C would write as doubles) shows up as a changed sentinel.
"""
from array import array

import pytest

import pygrad
from pygrad import optim

np = pytest.importorskip("numpy")

SENTINEL = -7.5
DATA = [1.0, -2.0, 0.5, 3.25]
GRADS = [[0.5, -1.0, 0.25, 0.0], [0.125, 2.0, -0.75, 1.5], [-0.3, 0.7, 1e-3, -4.0]]
START = [0.5, 1.0, 2.0, 0.25]       # the state the user sets: exact in every dtype below, and a valid v
STATES = {"velocity": ("SGD", {"lr": 0.1, "momentum": 0.9}), "m": ("Adam", {"lr": 0.1}), "v": ("Adam", {"lr": 0.1})}


def bits(xs):
    return [repr(float(x)) for x in xs]


def windowed(kind, values):
    """(state, whole): `values` in a window of a sentinel-filled array, in one of the forms a user might set."""
    n = len(values)
    if kind == "strided":        # every other item of a float64 array: not contiguous
        whole = np.full(2 * n + 2, SENTINEL)
        state = whole[:2 * n:2]
    else:
        whole = np.full(3 * n, SENTINEL if kind != "int64" else -7, dtype=kind)
        state = whole[:n]
    state[:] = values if kind != "int64" else [int(x) for x in values]
    return state, whole


def trained(V, opt_name, kwargs, state_name, state):
    params = [V(d) for d in DATA]
    opt = getattr(optim, opt_name)(params, **kwargs)
    if state is not None:
        setattr(opt, state_name, state)
    for grads in GRADS:
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    return bits(p.data for p in params), bits(getattr(opt, state_name))


@pytest.mark.parametrize("state_name", STATES)
@pytest.mark.parametrize("kind", ["float32", "int64", "object", "strided"])
def test_optimizer_state_of_another_form_is_converted_and_nothing_is_overrun(engine, state_name, kind):
    opt_name, kwargs = STATES[state_name]
    start = [int(x) for x in START] if kind == "int64" else START
    expected = trained(engine, opt_name, kwargs, state_name, array("d", start))
    state, whole = windowed(kind, START)
    outside = whole.copy()
    got = trained(engine, opt_name, kwargs, state_name, state)
    assert got == expected          # the numbers of array('d') state, bitwise
    window = slice(0, 2 * len(START), 2) if kind == "strided" else slice(0, len(START))
    rest = np.ones(len(whole), bool)
    rest[window] = False
    assert bits(whole[rest]) == bits(outside[rest])      # no write outside the state


@pytest.mark.parametrize("bad", [["x", 1.0, 2.0, 3.0], [None] * 4])
def test_optimizer_state_holding_non_numbers_is_a_type_error(engine, bad):
    params = [engine(d) for d in DATA]
    opt = optim.Adam(params)
    opt.v = np.array(bad, dtype=object)
    with pytest.raises(TypeError, match="optimizer state 'v'"):
        opt.step()
    assert bits(p.data for p in params) == bits(DATA)


@pytest.mark.parametrize("dtype", ["float32", "int64", "uint8", "bool", "strided"])
def test_compiled_batches_of_other_dtypes_are_converted(engine, dtype):
    x, y, w = engine(0.0), engine(0.0), engine(0.5)
    program = pygrad.compile(x * w + y.tanh(), [x, y], [w])
    rows = [[1, 0], [0, 1], [0, 0], [1, 1]]      # (0 and 1: the same in every dtype, bool too)
    expected = bits(program.forward_batch(np.array(rows, dtype=np.float64)))
    if dtype == "strided":
        batch = np.array([[a, 99.0, b] for a, b in rows])[:, ::2]
    else:
        batch = np.array(rows, dtype=dtype)
    assert bits(program.forward_batch(batch)) == expected
    assert bits(program.accumulate(batch)) == expected


BAD_BUFFERS = {
    "float32": lambda n: windowed("float32", [0.0] * n),
    "int64": lambda n: windowed("int64", [0] * n),
    "object": lambda n: windowed("object", [0.0] * n),
    "strided": lambda n: windowed("strided", [0.0] * n),
    "short": lambda n: windowed("float64", [0.0] * (n - 1)),
    "long": lambda n: windowed("float64", [0.0] * (n + 1)),
    "list": lambda n: ([0.0] * n, np.zeros(0)),
    "readonly": lambda n: (bytes(8 * n), np.zeros(0)),
}


def c_only(engine):
    if pygrad.get_engine() != "c":
        pytest.skip("C buffers: the reference engine hands nothing to C")


@pytest.mark.parametrize("bad", BAD_BUFFERS)
@pytest.mark.parametrize("step", ["sgd", "adam_m", "adam_v"])
def test_the_c_optimizer_kernels_refuse_a_wrong_buffer(engine, bad, step):
    """The kernels under optim.py, called directly (optim.py converts first)."""
    c_only(engine)
    from pygrad._ckernels import ParamKernels
    params = [engine(d) for d in DATA]
    kernels = ParamKernels(params)
    good = array("d", START)
    buf, whole = BAD_BUFFERS[bad](len(params))
    before = whole.copy()
    with pytest.raises((TypeError, ValueError), match="SGD velocity|Adam m|Adam v"):
        if step == "sgd":
            kernels.sgd(None, 0.1, 0.9, 0.0, buf)
        else:
            m, v = (buf, good) if step == "adam_m" else (good, buf)
            kernels.adam(None, 0.1, 0.9, 0.999, 1e-8, 0.0, False, 1, m, v)
    assert bits(whole) == bits(before)
    assert bits(p.data for p in params) == bits(DATA)


@pytest.mark.parametrize("bad", BAD_BUFFERS)
@pytest.mark.parametrize("which", ["batch", "out"])
def test_a_compiled_run_refuses_a_wrong_buffer(engine, bad, which):
    """The program's C side, called directly (Program converts batches first)."""
    c_only(engine)
    x, y, w = engine(0.0), engine(0.0), engine(0.5)
    code = pygrad.compile(x * w + y, [x, y], [w])._code
    nrows = 3
    buf, whole = BAD_BUFFERS[bad](nrows * (2 if which == "batch" else 1))
    if which == "batch":
        batch, out = buf, np.zeros(nrows)
    else:
        batch, out = np.ones((nrows, 2)), buf     # (a short or long out mismatches the batch's rows)
    before = whole.copy()
    with pytest.raises((TypeError, ValueError), match="batch|out"):
        code.run(batch, out, True, 1.0)
    assert bits(whole) == bits(before)
    assert (w.grad, repr(w.data)) == (0.0, "0.5")
