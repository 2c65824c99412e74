"""`pygrad.select` and `pygrad.max_data`, eager and compiled, on both engines.

select(index, values) is values[index]; with a Value index it is a graph
op whose gradient goes to the chosen value only, and whose index a compiled
program reads at each run (so an out-of-range or non-integral index there
is an error naming the row). max_data is Python's max over the data, as a
node that no gradient flows through.
"""
import math

import pytest

import pygrad

np = pytest.importorskip("numpy")


def test_int_index_is_plain_indexing(engine):
    vals = [engine(1.0), engine(2.0), engine(3.0)]
    assert pygrad.select(1, vals) is vals[1]
    assert pygrad.select(-1, vals) is vals[2]
    rows = [[engine(1.0)], [engine(2.0)]]
    assert pygrad.select(np.int64(1), rows) is rows[1]
    with pytest.raises(IndexError):
        pygrad.select(3, vals)
    with pytest.raises(TypeError):
        pygrad.select(1.0, vals)     # as list indexing: a float is not an index


@pytest.mark.parametrize("i, chosen", [(0.0, 0), (2.0, 2), (-1.0, 3), (-4.0, 0)])
def test_value_index_picks_and_routes_the_gradient(engine, i, chosen):
    vals = [engine(x) for x in (1.5, -2.0, 0.25, 7.0)]
    index = engine(i)
    out = pygrad.select(index, vals) * 3.0
    assert out.data == 3.0 * vals[chosen].data
    assert pygrad.select(index, vals)._op == "select"
    out.backward()
    assert [v.grad for v in vals] == [3.0 if k == chosen else 0.0 for k in range(4)]
    assert index.grad == 0.0


def test_value_index_over_rows_selects_a_row(engine):
    table = [[engine(10.0 * r + c) for c in range(3)] for r in range(4)]
    row = pygrad.select(engine(2.0), table)
    assert [v.data for v in row] == [20.0, 21.0, 22.0]
    engine.sum(row).backward()
    assert [[v.grad for v in r] for r in table] == [[1.0 if r == 2 else 0.0] * 3 for r in range(4)]


def test_numbers_among_values_become_constants(engine):
    out = pygrad.select(engine(1.0), [engine(1.0), 2.5])
    assert out.data == 2.5


@pytest.mark.parametrize("bad, exc, message", [
    (1.5, ValueError, "select: index 1.5 is not an integer"),
    (math.nan, ValueError, "select: index nan is not an integer"),
    (math.inf, ValueError, "select: index inf is not an integer"),
    (3.0, IndexError, "select: index 3 out of range for 3 values"),
    (-4.0, IndexError, "select: index -4 out of range for 3 values"),
])
def test_eager_bad_index(engine, bad, exc, message):
    with pytest.raises(exc) as info:
        pygrad.select(engine(bad), [engine(1.0), engine(2.0), engine(3.0)])
    assert str(info.value) == message


def test_compiled_select_reads_the_index_per_row(engine):
    vals = [engine(x) for x in (1.5, -2.0, 0.25)]
    i = engine(0.0)
    prog = pygrad.compile(pygrad.select(i, vals) * vals[0], inputs=[i], params=vals)
    rows = [[k % 3] for k in range(20)]
    out = prog.accumulate(rows, scale=0.5)
    assert out.tolist() == [vals[k % 3].data * 1.5 for k in range(20)]
    # eager: (0.5 * select(k) * v0).backward() per row, in the same order
    expected = [0.0, 0.0, 0.0]
    for k in range(20):
        c = k % 3
        expected[c] += 0.5 * 1.5
        expected[0] += vals[c].data * 0.5
    assert [v.grad for v in vals] == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("bad, exc, text", [
    (3.0, IndexError, "select index out of range"),
    (-4.0, IndexError, "select index out of range"),
    (0.5, ValueError, "select index is not an integer"),
    (math.nan, ValueError, "select index is not an integer"),
])
@pytest.mark.parametrize("bad_row", [0, 13])
def test_compiled_bad_index_names_the_row_and_adds_nothing(engine, bad, exc, text, bad_row):
    vals = [engine(x) for x in (1.5, -2.0, 0.25)]
    i = engine(0.0)
    prog = pygrad.compile(pygrad.select(i, vals) * 2.0, inputs=[i], params=vals)
    rows = [[1.0]] * 20
    rows[bad_row] = [bad]
    for run in (prog.forward_batch, prog.accumulate):
        with pytest.raises(exc) as info:
            run(rows)
        assert str(info.value) == f"row {bad_row}: {text}"
    assert [v.grad for v in vals] == [0.0, 0.0, 0.0]


def test_compile_fn_takes_token_ids(engine):
    table = [[engine(0.1 * r + 0.01 * c) for c in range(2)] for r in range(5)]
    params = [p for row in table for p in row]
    f = pygrad.compile_fn(lambda ids: engine.sum([engine.sum(pygrad.select(t, table)) for t in ids]),
                          params=params)
    assert f([0, 4]) == pytest.approx(0.01 + 0.4 + 0.4 + 0.01)
    f.accumulate([4, 4, 1])
    assert [p.grad for p in params] == [0, 0, 1, 1, 0, 0, 0, 0, 2, 2]
    with pytest.raises(IndexError, match="^row 0: select index out of range$"):
        f.accumulate([4, 5, 1])
    assert f.cache_info().misses == 2


@pytest.mark.parametrize("xs", [[1.0, 3.0, 2.0], [-0.0, 0.0], [0.0, -0.0], [math.nan, 1.0], [1.0, math.nan],
                                [-math.inf, -5.0]])
def test_max_data_is_pythons_max(engine, xs):
    vals = [engine(x) for x in xs]
    m = pygrad.max_data(vals)
    assert repr(m.data) == repr(max(xs))
    assert m._op == "max_data"
    (vals[0] * 2.0 - m).backward()
    assert [v.grad for v in vals] == [2.0] + [0.0] * (len(xs) - 1)


def test_max_data_in_a_compiled_softmax_shift(engine):
    a, b = engine(0.0), engine(0.0)
    shifted = (a - pygrad.max_data([a, b])).exp()
    prog = pygrad.compile(shifted, inputs=[a, b])
    rows = [[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]
    assert prog.forward_batch(rows).tolist() == [math.exp(x - max(x, y)) for x, y in rows]


def test_max_data_needs_values():
    with pytest.raises(ValueError, match="max_data: no values"):
        pygrad.max_data([])
