"""Compiled mode never gives another number than eager without a word.

Python decisions on traced Values become guards checked on every row;
numeric reads are reported at trace time; a function whose result depends on
nothing, or that turns grad off, is refused; every run starts from the
params and constants as they are now. Every result here is compared with
the same function run eagerly, bit for bit (repr), on both engines.
"""
import math
import warnings

import numpy as np
import pytest

import pygrad
from pygrad import TracerError, TracerWarning


def same(a, b):
    return repr(float(a)) == repr(float(b))


def eager_rows(fn, rows, params, scale=1.0):
    """fn run eagerly per row: values, and the params' grads after each row's backward."""
    V = type(params[0])
    out = []
    for row in rows:
        loss = fn(*[V(x) for x in row])
        (scale * loss).backward()
        out.append(loss.data)
    return out, [p.grad for p in params]


def branchy(w):
    def f(x):
        return x * w if x > 0 else x * x
    return f


def test_a_branch_follows_each_call(engine):
    w = engine(2.0)
    f = pygrad.compile_fn(branchy(w), params=[w])
    for x in (3.0, -3.0, 0.0, 5.0, -0.5, float("inf")):
        assert same(f(x), branchy(w)(engine(x)).data), x
    assert f.cache_info().misses == 2 and f.cache_info().currsize == 2


def test_the_decisions_of_the_issue_give_eager_numbers(engine):
    w = engine(1.0)
    cases = [
        (lambda x: x * w if x > 0 else x * x, [-3.0, 3.0]),
        (lambda x: w * max(x, 0 * x), [-3.0, 3.0]),
        (lambda x: x if x > 0 else -x, [10.0, -10.0, 10.0]),
        (lambda x: w * min(x, 2 * x), [1.0, -1.0]),
        (lambda x: x * 3 if 0 < x < 1 else x, [0.5, 2.0, -1.0, 0.25]),
    ]
    for fn, xs in cases:
        f = pygrad.compile_fn(fn, params=[w])
        for x in xs:
            assert same(f(x), fn(engine(x)).data), (fn, x)


def test_a_filter_on_values(engine):
    def f(xs):
        return sum((v for v in xs if v > 0), 0 * xs[0])
    g = pygrad.compile_fn(f)
    for xs in ([1.0, -2.0, 1.0], [2.0, 3.0, -1.0], [-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]):
        assert same(g(xs), f([engine(x) for x in xs]).data), xs


def test_sorted_over_values(engine):
    def f(xs):
        s = sorted(xs)
        return s[0] * 1 + s[1] * 10 + s[2] * 100
    g = pygrad.compile_fn(f)
    rows = [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 3.0, 1.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0], [3.0, 1.0, 2.0]]
    for xs in rows:
        assert same(g(xs), f([engine(x) for x in xs]).data), xs
    assert g.cache_info().currsize == 6   # one program per order


def test_a_batch_whose_rows_take_different_branches(engine):
    """forward_batch and accumulate over rows that alternate branches: each
    row's value and the params' grads (summed in row order) as eager."""
    w, b = engine(0.5), engine(-0.25)
    params = [w, b]

    def fn(x):
        h = x * w + b
        return h * h if h > 0 else h * 3 - x
    f = pygrad.compile_fn(fn, params=params)
    prog = f.program(1.0)
    rng = np.random.default_rng(3)
    for n in (1, 3, 5, 8, 13, 21):
        batch = rng.uniform(-2, 2, size=(n, 1))
        values = prog.forward_batch(batch)
        want = [fn(engine(float(x))).data for x in batch[:, 0]]
        assert [repr(float(v)) for v in values] == [repr(v) for v in want]
        for p in params:
            p.grad = 0.0
        got = prog.accumulate(batch, scale=0.5)
        got_grads = [p.grad for p in params]
        for p in params:
            p.grad = 0.0
        want_values, want_grads = eager_rows(fn, batch.tolist(), params, scale=0.5)
        assert [repr(float(v)) for v in got] == [repr(v) for v in want_values]
        assert [repr(g) for g in got_grads] == [repr(g) for g in want_grads], n


def test_a_failing_row_after_a_branch_change_changes_no_grad(engine):
    w = engine(1.0)

    def fn(x):
        return (x * w - 1).log() if x > 0 else x * w
    prog = pygrad.compile_fn(fn, params=[w]).program(2.0)
    w.grad = 7.0
    with pytest.raises(ValueError, match="row 3"):
        prog.accumulate(np.array([[1.5], [-1.0], [2.0], [0.5], [3.0]]))
    assert w.grad == 7.0
    # a row that fails only where the other branch would have run goes to that branch
    assert repr(float(prog.accumulate(np.array([[1.5], [-1.0]]))[1])) == repr(-1.0)


def test_too_many_courses_name_the_decision(engine):
    def fn(xs):
        return sum((v for v in xs if v > 0), 0 * xs[0])
    f = pygrad.compile_fn(fn, max_variants=3)
    f([1.0, 1.0])
    f([-1.0, 1.0])
    f([1.0, -1.0])
    with pytest.raises(TracerError, match=r"test_guards.py:\d+.*max_variants=3"):
        f([-1.0, -1.0])


def test_nan_takes_the_same_branch_as_eager(engine):
    w = engine(1.0)
    f = pygrad.compile_fn(branchy(w), params=[w])
    f(1.0)
    assert repr(f(float("nan"))) == repr(branchy(w)(engine(float("nan"))).data)


def test_a_decision_on_a_constant_follows_its_edits(engine):
    """A leaf the function reads but that is neither input nor param is a
    constant of the program, read live at each run: a decision on it is a
    guard too, so editing it gives eager's branch."""
    k = engine(2.0)

    def fn(x):
        return x * 2 if k > 1 else x - k
    f = pygrad.compile_fn(fn)
    for kd, x in ((2.0, 1.0), (0.5, 1.0), (3.0, 4.0), (-1.0, 2.0)):
        k.data = kd
        assert same(f(x), fn(engine(x)).data), (kd, x)
    assert len(f.program(1.0)._guards) == 1


@pytest.mark.parametrize("read", [
    lambda x: x * x.data,
    lambda x: x * float(x),
    lambda x: x * x.item(),
    lambda x: x * math.exp(x),
    lambda x: x * float(format(x, ".3f")),
])
def test_numeric_reads_are_reported_with_their_line(engine, read):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        pygrad.compile_fn(read)(2.0)
    assert [w.category for w in seen] == [TracerWarning]
    assert seen[0].filename == __file__ and "test_guards.py" in str(seen[0].message)
    with pytest.raises(TracerError, match="reads the number inside a traced Value"):
        pygrad.compile_fn(read, strict=True)(2.0)


def test_a_decision_on_data_read_from_a_value_is_guarded(engine):
    """`if x.data > 0` (micrograd's relu is written so) and comparisons of
    arithmetic on .data decide on the Values they were read from: guarded,
    so every call takes eager's branch (they were once frozen at the
    traced outcome). The read is still reported."""
    w = engine(0.5)

    def f(x):
        h = x * w
        y = x * w * 2 if x.data > 0 else x * w * -1
        return y + h * 3 if h.data * 2 >= x.data - 0.25 else y
    compiled = pygrad.compile_fn(f, params=[w])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for x in (1.0, -3.0, 2.0, -0.5, 0.0, 0.75, -0.2):
            assert same(compiled(x), f(engine(x)).data), x
    assert TracerWarning in {w.category for w in seen}
    assert len(compiled.variants(1.0)) >= 2


def test_reads_outside_a_trace_cost_nothing_and_say_nothing(engine):
    x = engine(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(x) == x.data == 2.0 and (x > 1) is True
    assert "data" not in type(x).__dict__ or type(x).__dict__["data"].__class__ is not property \
        or engine.__module__ == "pygrad.reference"


def test_no_grad_inside_the_traced_function_is_refused(engine):
    @pygrad.no_grad
    def predict(x):
        return x * 2
    with pytest.raises(TracerError, match="no_grad inside a function being compiled"):
        pygrad.compile_fn(predict)(1.0)

    def part(x):
        with pygrad.no_grad():
            t = x * 2
        return x * t
    with pytest.raises(TracerError, match="no_grad"):
        pygrad.compile_fn(part)(1.0)
    assert pygrad.is_grad_enabled()


def test_a_result_that_depends_on_nothing_is_refused(engine):
    with pytest.raises(TracerError, match="depends on none of its arguments"):
        pygrad.compile_fn(lambda x: engine(2.0) * 3)(1.0)
    w = engine(3.0)
    assert pygrad.compile_fn(lambda x: w * w, params=[w])(1.0) == 9.0   # a param is enough


def test_a_short_batch_after_a_long_one_reads_the_params_as_they_are(engine):
    """forward_batch on 4-7 rows after a run of 8 or more: it must read the
    params and constants as they are now, not the earlier run's."""
    from pygrad.nn import MLP
    rng = np.random.default_rng(0)
    model = MLP(2, [4, 1])
    x0, x1 = engine(0.0), engine(0.0)
    c = engine(0.5)   # a constant the user edits
    loss = (model([x0, x1]) - c) ** 2
    prog = pygrad.compile(loss, inputs=[x0, x1], params=model.parameters())
    opt = pygrad.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        opt.zero_grad()
        prog.accumulate(rng.uniform(-1, 1, size=(8, 2)))
        opt.step()
        c.data += 0.25
        for n in range(1, 10):
            batch = rng.uniform(-1, 1, size=(n, 2))
            got = prog.forward_batch(batch)
            want = [((model([engine(float(a)), engine(float(b))]) - c) ** 2).data for a, b in batch]
            assert [repr(float(v)) for v in got] == [repr(v) for v in want], (step, n)
