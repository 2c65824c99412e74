"""`pygrad.compile_fn`: programs traced per argument shape, on both engines.

A cached program must give, bit for bit, what the eager function gives on
the same numbers (value, and grads as `(scale * f(...)).backward()` adds
them); a new shape traces once, a known one replays; the cache is an LRU of
bounded size; threads calling one compiled function get exact results.
"""
import math
import random
import sys
import threading

import pytest

import pygrad


def bits(xs):
    return [repr(float(x)) for x in xs]


def make_params(V, n=6, seed=0):
    rng = random.Random(seed)
    return [V(rng.uniform(-1, 1)) for _ in range(n)]


def model(params, xs, y):
    """A shape-dependent loss: a running tanh over the list, then a square."""
    acc = params[0]
    for i, x in enumerate(xs):
        acc = (acc * params[1 + i % 3] + x * params[4]).tanh()
    return (acc - y) ** 2 + params[5] * 0.5


def eager(params, xs, y, scale=None):
    V = type(params[0])
    out = model(params, [V(x) for x in xs], V(y))
    if scale is not None:
        (scale * out).backward()
    return out.data


@pytest.mark.parametrize("scale", [1.0, 0.25, -1.5])
def test_values_and_grads_equal_eager_bitwise(engine, scale):
    params = make_params(engine)
    f = pygrad.compile_fn(model_fn(params), params=params)
    rows = [([0.5, -0.25], 1.0), ([0.1, 0.2, 0.3], -1.0), ([0.7, 0.1], 0.0), ([2.0], 0.5)]
    for xs, y in rows:
        assert repr(f(xs, y)) == repr(eager(params, xs, y))
    for p in params:
        p.grad = 0.0
    expected = []
    for xs, y in rows:
        expected.append(eager(params, xs, y, scale))
    eager_grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    got = [f.accumulate(xs, y, scale=scale) for xs, y in rows]
    assert bits(got) == bits(expected)
    assert bits(p.grad for p in params) == bits(eager_grads)
    assert all(g != 0.0 for g in eager_grads)


def model_fn(params):
    return lambda xs, y: model(params, xs, y)


def test_one_trace_per_shape(engine):
    params = make_params(engine)
    f = pygrad.compile_fn(model_fn(params), params=params)
    f([1.0, 2.0], 0.0)
    f([3.0, 4.0], 1.0)
    f([3.0], 1.0)
    f([5.0, 6.0], 2)
    assert f.cache_info() == pygrad.compiled.CacheInfo(hits=2, misses=2, maxsize=64, currsize=2)
    assert sorted(f.programs()) == [((None,), None), ((None, None), None)]
    f.cache_clear()
    assert f.cache_info() == (0, 0, 64, 0)


def test_cache_is_lru_bounded(engine):
    params = make_params(engine)
    f = pygrad.compile_fn(model_fn(params), params=params, maxsize=2)
    for n in (1, 2, 1, 3):        # 3 evicts 2, the least recently used
        f([0.5] * n, 0.0)
    assert [len(k[0]) for k in f.programs()] == [1, 3]
    f([0.5] * 2, 0.0)              # traced again
    assert f.cache_info() == (1, 4, 2, 2)


def test_params_are_read_live(engine):
    params = make_params(engine)
    f = pygrad.compile_fn(model_fn(params), params=params)
    before = f([0.3, 0.4], 0.2)
    params[4].data += 0.5
    assert repr(f([0.3, 0.4], 0.2)) == repr(eager(params, [0.3, 0.4], 0.2)) != repr(before)
    assert f.cache_info().misses == 1


def test_static_keywords_select_programs(engine):
    params = make_params(engine)

    def fn(xs, power):
        return engine.sum([x * params[0] for x in xs]) ** power
    f = pygrad.compile_fn(fn, params=params, static=("power",))
    assert f([2.0], power=2) == (2.0 * params[0].data) ** 2
    assert f([2.0], power=3) == (2.0 * params[0].data) ** 3
    assert f.cache_info().misses == 2
    with pytest.raises(TypeError, match="keyword argument 'other' is not declared static"):
        f([2.0], other=1)


def test_nested_lists_and_decorator(engine):
    params = make_params(engine, 2)

    @pygrad.compile_fn(params=params)
    def fn(rows):
        return engine.sum([engine.dot(params, row, 0.0) for row in rows])
    rows = [[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]
    V = type(params[0])
    expected = V.sum([V.dot(params, [V(x) for x in r], 0.0) for r in rows]).data
    assert repr(fn(rows)) == repr(expected)
    assert fn.cache_info().misses == 1


def test_numpy_arrays_are_lists(engine):
    np = pytest.importorskip("numpy")
    params = make_params(engine)
    f = pygrad.compile_fn(model_fn(params), params=params)
    assert repr(f(np.array([0.5, -0.25]), np.float64(1.0))) == repr(f([0.5, -0.25], 1.0))
    assert f.cache_info().misses == 1


def test_every_kind_of_number_in_a_list_is_its_float(engine):
    """Ints, floats, bools and numpy scalars in a list: one program, each
    number as float(x) (-0.0 and nan kept); an int too big for a float
    raises OverflowError, as float() does."""
    np = pytest.importorskip("numpy")
    params = make_params(engine, 2)
    f = pygrad.compile_fn(lambda xs: engine.sum([x * params[0] for x in xs]) + xs[0] * params[1], params=params)
    V = type(params[0])

    def eager(xs):
        vs = [V(x) for x in xs]
        return (V.sum([v * params[0] for v in vs]) + vs[0] * params[1]).data
    for xs in ([1, 2.5, True], [-0.0, 3, 0.5], [np.float64(-0.0), np.int64(3), False], [2 ** 60 + 1, math.nan, -7]):
        assert repr(f(xs)) == repr(eager([float(x) for x in xs]))
    assert f.cache_info().misses == 1
    with pytest.raises(OverflowError):
        f([1.0, 10 ** 400, 2.0])


def test_forward_only_leaves_grads(engine):
    params = make_params(engine)
    f = pygrad.compile_fn(model_fn(params), params=params)
    for p in params:
        p.grad = 0.125
    f([0.3], 0.0)
    assert {p.grad for p in params} == {0.125}


def test_failing_call_names_the_row_and_adds_nothing(engine):
    params = make_params(engine, 2)
    f = pygrad.compile_fn(lambda x: (x * params[0]).log() + params[1], params=params)
    sign = math.copysign(1.0, params[0].data)
    f.accumulate(sign)
    kept = [p.grad for p in params]
    with pytest.raises(ValueError, match="^row 0: math domain error$"):
        f.accumulate(-sign)
    assert [p.grad for p in params] == kept


def test_bad_arguments(engine):
    params = make_params(engine, 1)
    with pytest.raises(TypeError, match="must return one"):
        pygrad.compile_fn(lambda x: 3.0, params=params)(1.0)
    f = pygrad.compile_fn(lambda x: x * params[0], params=params)
    with pytest.raises(TypeError, match="real numbers"):
        f("a")
    with pytest.raises(ValueError, match="maxsize must be a positive int"):
        pygrad.compile_fn(lambda x: x, maxsize=0)
    with pytest.raises(TypeError, match="must be callable"):
        pygrad.compile_fn(3)


def test_threads_calling_one_function_are_exact(engine):
    params = make_params(engine)
    f = pygrad.compile_fn(model_fn(params), params=params)
    cases = [([0.1 * i, -0.2 * i][: 1 + i % 2], 0.3 * i) for i in range(8)]
    expected = [repr(eager(params, xs, y)) for xs, y in cases]
    results, errors = [None] * 8, []
    barrier = threading.Barrier(8)

    def worker(i):
        barrier.wait()
        try:
            results[i] = [repr(f(*cases[i])) for _ in range(200)]
        except BaseException as exc:   # reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r == [e] * 200 for r, e in zip(results, expected))


# -- strict: leaves the user holds but did not list -----------------------------------


def test_default_reads_an_unlisted_leaf_as_a_constant(engine):
    x, w, c = engine(0.0), engine(2.0), engine(0.5)
    prog = pygrad.compile(x * w * c, inputs=[x], params=[w])
    c.data = 4.0                       # read live, at each run
    assert prog.accumulate([[1.0]]).tolist() == [8.0]
    assert (w.grad, c.grad) == (4.0, 0.0)


# strict=True asks which leaves something outside the graph still holds. On
# PyPy the reference engine cannot tell (it needs CPython's reference
# counts, and says so); the C engine collects first there.
def strict_engine(engine):
    if sys.implementation.name == "pypy" and engine.__module__ == "pygrad.reference":
        pytest.skip("compile(strict=True) on the reference engine needs CPython's reference counts")


def test_strict_names_an_unlisted_leaf(engine):
    x, w, c = engine(0.0), engine(2.0), engine(0.5)
    y = (x * w + 3) * c + x ** 2 + engine.sum([x, 1.0])     # 3, 2 and 1.0: the graph's own constants
    strict_engine(engine)
    with pytest.raises(ValueError, match=r"^compile\(strict=True\): .*1 leaf .* Value\(data=0\.5\)"):
        pygrad.compile(y, inputs=[x], params=[w], strict=True)
    assert len(pygrad.compile(y, inputs=[x], params=[w, c], strict=True)) > 0
    assert len(pygrad.compile(y, inputs=[x, c], params=[w], strict=True)) > 0


def test_strict_accepts_leaves_nobody_else_holds(engine):
    x = engine(0.0)

    def build():
        a = engine(2.0)                # dropped when build returns: a constant
        return x * a
    y = build()
    strict_engine(engine)
    assert pygrad.compile(y, inputs=[x], strict=True)(3.0) == 6.0


def test_compile_fn_strict_catches_a_forgotten_param(engine):
    strict_engine(engine)
    params = make_params(engine, 2)
    forgotten = engine(0.25)
    f = pygrad.compile_fn(lambda t: t * params[0] + t * forgotten, params=params, strict=True)
    with pytest.raises(ValueError, match="Value\\(data=0.25\\)"):
        f(1.0)
    g = pygrad.compile_fn(lambda t: t * params[0] + t * 2.5, params=params, strict=True)
    assert g(2.0) == 2.0 * params[0].data + 5.0


def test_threads_sharing_one_program_get_their_own_bad_row(engine):
    """Each thread's failing run names its own bad row (no error state is
    shared between calls of one program)."""
    import sys
    x, w = engine(1.0), engine(0.5)
    prog = pygrad.compile((x * w).log(), inputs=[x], params=[w])
    errors, wrong = [], []
    barrier = threading.Barrier(8)

    def worker(bad):
        rows = [[1.0]] * 12
        rows[bad] = [-1.0]
        barrier.wait()
        for _ in range(100):
            for run in (prog.forward_batch, prog.accumulate):
                try:
                    run(rows)
                except ValueError as exc:
                    if str(exc) != f"row {bad}: math domain error":
                        wrong.append(str(exc))
                else:
                    errors.append("no error")
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors and not wrong
    assert w.grad == 0.0


def test_engines_agree_bitwise_on_a_token_model():
    """compile_fn of a tiny token model (select rows, sums of products that
    the C program fuses, softmax shifted by max_data) gives the same bits on
    both engines, values and grads, over calls of several shapes."""
    def run(V):
        rng = random.Random(5)
        table = [[V(rng.gauss(0, 0.5)) for _ in range(3)] for _ in range(6)]
        head = [[V(rng.gauss(0, 0.5)) for _ in range(3)] for _ in range(6)]
        params = [p for m in (table, head) for row in m for p in row]

        def loss(ids):
            total = 0
            for t, target in zip(ids, ids[1:]):
                x = pygrad.select(t, table)
                logits = [sum(w * xi for w, xi in zip(row, x)) for row in head]
                m = pygrad.max_data(logits)
                exps = [(v - m).exp() for v in logits]
                total = total - (pygrad.select(target, exps) / sum(exps)).log()
            return total * (1 / (len(ids) - 1))
        f = pygrad.compile_fn(loss, params=params)
        out = [f.accumulate(ids, scale=0.5) for ids in ([0, 3, 5], [1, 2], [0, 3, 5], [4, 4, 4, 1])]
        return [repr(x) for x in out] + [repr(p.grad) for p in params], f.cache_info().misses
    c, ref = run(pygrad.value_class("c")), run(pygrad.value_class("python"))
    assert c == ref and c[1] == 3


def _square_sum(xs):
    return xs[0] * xs[0] + xs[-1]


def test_compiled_function_of_inputs_alone_pickles_and_copies(engine):
    import copy
    import pickle
    f = pygrad.compile_fn(_square_sum, static=(), maxsize=3)
    f([2.0, 0.5])
    g = pickle.loads(pickle.dumps(f))
    assert g([2.0, 0.5]) == f([2.0, 0.5]) == 4.5
    assert (g.maxsize, g.cache_info().misses) == (3, 1)
    h = copy.deepcopy(f)
    assert h([1.0, 1.0]) == 2.0


def _scaled_square(x):
    return x * x * _SNAPSHOT_W[0]


_SNAPSHOT_W = []


def test_a_copy_with_params_refuses_rather_than_train_the_original(engine):
    """A "keep the best model" snapshot, copy.deepcopy((params, f)), of a
    plain function: the copy's fn would still read the original params, so it
    computes with them and trains nothing. Copying refuses, saying what to
    copy instead; a shallow copy is the same function over the same params."""
    import copy
    import pickle
    _SNAPSHOT_W[:] = [engine(1.5)]
    f = pygrad.compile_fn(_scaled_square, params=_SNAPSHOT_W)
    assert f(2.0) == 6.0
    for save in (lambda f: copy.deepcopy((_SNAPSHOT_W, f)), pickle.dumps):
        with pytest.raises(TypeError, match="Copy or pickle the model"):
            save(f)
    g = copy.copy(f)
    assert g.params[0] is _SNAPSHOT_W[0] and g(2.0) == 6.0


class _Scaler:
    """A model that owns its param: its bound method copies with it."""

    def __init__(self, w):
        self.w = w

    def loss(self, x):
        return x * x * self.w


def test_a_bound_method_copies_with_its_model_and_trains_the_copy(engine):
    import copy
    import pickle
    model = _Scaler(engine(1.5))
    f = pygrad.compile_fn(model.loss, params=[model.w])
    f.accumulate(2.0)
    for snapshot in (lambda: copy.deepcopy(f), lambda: pickle.loads(pickle.dumps(f))):
        g = snapshot()
        (w2,) = g.params
        assert w2 is g.fn.__self__.w and w2 is not model.w
        w2.data, w2.grad, model.w.grad = 3.0, 0.0, 0.0
        assert g.accumulate(2.0) == 12.0 and (w2.grad, model.w.grad) == (4.0, 0.0)


def test_a_deep_copy_that_still_reads_the_originals_is_refused(engine):
    import copy
    w = engine(1.5)

    class Holder:   # owns a copy of w's list, but its loss reads the outer w
        params = [w]

        def loss(self, x):
            return x * w
    h = Holder()
    f = pygrad.compile_fn(h.loss, params=h.params)
    g = copy.deepcopy(f)
    with pytest.raises(TypeError, match="reads the params the original was made with"):
        g(1.0)
