"""Compiled programs (`pygrad.compile`, issue 5) on both engines.

A compiled program must give the eager engine's numbers; the C program
must give the reference replay's numbers bit for bit (random graphs with
every op, shared subexpressions and constants); parameters and constants
are the user's live Values; batches are converted or rejected, never
reinterpreted; a failing row raises naming it and adds nothing.
Bitwise equality is `repr(a) == repr(b)` (tells -0.0 from 0.0, NaN == NaN).
"""
import gc
import math
import random

import optable
import pytest

import pygrad
from pygrad import nn, optim
from pygrad._engines import value_class

np = pytest.importorskip("numpy")


def bits(xs):
    return [repr(float(x)) for x in xs]


def grads(params):
    return [p.grad for p in params]


# -- the MLP max-margin loss: compiled vs eager ------------------------------------


def moons_like(n, seed=0):
    """Two noisy blobs labelled -1 / 1: enough for a max-margin loss to train on."""
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], size=n)
    X = rng.normal(size=(n, 2)) * 0.6 + np.c_[y, -0.5 * y]
    return X, y


def hinge(model, x, y):
    """micrograd's per-row max-margin loss, written once for placeholders and rows."""
    return (1 + -y * model(x)).relu()


class Compiled:
    """An MLP with its per-row loss compiled over placeholders (x0, x1, y)."""

    def __init__(self, seed, sizes=(16, 16, 1), at=(0.0, 0.0, 0.0)):
        V = pygrad.Value
        random.seed(seed)
        self.model = nn.MLP(2, list(sizes))
        self.params = self.model.parameters()
        self.x, self.y = [V(at[0]), V(at[1])], V(at[2])   # placeholders, built at row `at`
        self.loss = hinge(self.model, self.x, self.y)
        self.prog = pygrad.compile(self.loss, inputs=self.x + [self.y], params=self.params)

    def eager_loss(self, row):
        V = pygrad.Value
        return hinge(self.model, [V(row[0]), V(row[1])], V(row[2]))


def batch_of(n, seed=0):
    X, y = moons_like(n, seed)
    return np.c_[X, y]


def test_forward_batch_equals_eager_losses_bitwise(engine):
    c = Compiled(seed=1)
    batch = batch_of(50)
    out = c.prog.forward_batch(batch)
    assert out.shape == (50,) and out.dtype == np.float64
    eager = [c.eager_loss(row).data for row in batch.tolist()]
    assert bits(out) == bits(eager)
    assert 0 < np.count_nonzero(out) < 50     # both sides of the hinge are exercised
    assert c.prog(*batch[3]) == eager[3]      # one row, as a call


def test_accumulate_equals_eager_grads_summed_over_rows(engine):
    # scale 1: the eager loop backward()s each row's graph into the same
    # params. Every parameter is used once per row, so each row's gradient
    # is the same product on both sides and the sums agree bitwise.
    c = Compiled(seed=2)
    batch = batch_of(40)
    c.model.zero_grad()
    for row in batch.tolist():
        c.eager_loss(row).backward()
    eager = grads(c.params)
    c.model.zero_grad()
    out = c.prog.accumulate(batch)
    assert bits(grads(c.params)) == bits(eager)
    assert bits(out) == bits(c.prog.forward_batch(batch))
    assert sum(g != 0.0 for g in eager) > len(eager) // 2


def per_row_grads(c, batch):
    rows = []
    for row in batch.tolist():
        c.model.zero_grad()
        c.eager_loss(row).backward()
        rows.append(grads(c.params))
    c.model.zero_grad()
    return rows


@pytest.mark.parametrize("scale", [0.25, 1 / 30, -3.7])
def test_accumulate_scales_the_summed_grads(engine, scale):
    c = Compiled(seed=3)
    batch = batch_of(30)
    rows = per_row_grads(c, batch)
    # the spec, bitwise: what eager `(scale * loss_row).backward()` adds, row after row
    for row in batch.tolist():
        (scale * c.eager_loss(row)).backward()
    expected = grads(c.params)
    c.model.zero_grad()
    c.prog.accumulate(batch, scale=scale)
    got = grads(c.params)
    assert bits(got) == bits(expected)
    # and scale * (the eager sum), to 1e-12 of the sum's magnitude
    for i, p_got in enumerate(got):
        eager_sum = math.fsum(g[i] for g in rows)
        magnitude = math.fsum(abs(scale * g[i]) for g in rows)
        assert abs(p_got - scale * eager_sum) <= 1e-12 * magnitude


def test_accumulate_adds_to_existing_grads(engine):
    c = Compiled(seed=4)
    batch = batch_of(10)
    for p in c.params:
        p.grad = 0.5
    for row in batch.tolist():       # eager backward calls add into the grads already there
        c.eager_loss(row).backward()
    expected = grads(c.params)
    for p in c.params:
        p.grad = 0.5
    c.prog.accumulate(batch)
    assert bits(grads(c.params)) == bits(expected)
    assert bits(grads(c.params)) != bits([0.5] * len(c.params))


def test_forward_batch_leaves_grads_alone(engine):
    c = Compiled(seed=4)
    for p in c.params:
        p.grad = 0.125
    c.prog.forward_batch(batch_of(10))
    assert set(grads(c.params)) == {0.125}


def test_len_counts_the_instructions(engine):
    x, w = engine(1.0), engine(2.0)
    y = (x * w + 1).tanh()                # mul, add, tanh
    assert len(pygrad.compile(y, inputs=[x], params=[w])) == 3
    assert len(pygrad.compile(x, inputs=[x])) == 0


# -- C compiled vs reference compiled on random graphs -------------------------------

NINPUTS, NPARAMS = 3, 3


# Each op as a function of (engine, a, b, a constant c, three more nodes e).
# Arguments of log, / and ** are shaped so that ordinary rows are in their
# domains; mul, sum and dot are squashed by tanh to keep magnitudes moderate.
def _positive(a):
    return a.tanh() + 1.5                 # in [0.5, 2.5]


RANDOM_OPS = {
    "add": lambda V, a, b, c, e: a + b,
    "sub": lambda V, a, b, c, e: a - b,
    "mul": lambda V, a, b, c, e: (a * b).tanh(),
    "div": lambda V, a, b, c, e: a / (b * b + 1),
    "powk": lambda V, a, b, c, e: _positive(a) ** c,
    "pow": lambda V, a, b, c, e: _positive(a) ** b.tanh(),
    "rpow": lambda V, a, b, c, e: abs(c) ** a.tanh(),
    "neg": lambda V, a, b, c, e: -a,
    "relu": lambda V, a, b, c, e: a.relu(),
    "tanh": lambda V, a, b, c, e: a.tanh(),
    "exp": lambda V, a, b, c, e: a.tanh().exp(),
    "log": lambda V, a, b, c, e: (a * a + 1).log(),
    "sigmoid": lambda V, a, b, c, e: a.sigmoid(),
    "sum": lambda V, a, b, c, e: V.sum([a, b, e[0], a]).tanh(),
    "dot": lambda V, a, b, c, e: V.dot([a, e[0]], [b, e[1]], e[2]).tanh(),
    "addk": lambda V, a, b, c, e: a + c,
    "rsubk": lambda V, a, b, c, e: c - a,
    "mulk": lambda V, a, b, c, e: c * a,
}


def random_recipe(seed, nsteps=40):
    """A random graph as a list of (op, operand indices, constant): every op,
    operands drawn from all earlier nodes (so subexpressions are shared),
    inputs, params and constants among them."""
    rng = random.Random(seed)
    ops = list(RANDOM_OPS)
    recipe = []
    for step in range(nsteps):
        op = ops[step] if step < len(ops) else rng.choice(ops)   # each op at least once
        avail = NINPUTS + NPARAMS + 2 + step
        recipe.append((op, [rng.randrange(avail) for _ in range(5)], rng.choice([2.0, 3.0, -1.0, 0.5, -0.75])))
    return recipe


def build(V, leaves, recipe):
    """Run the recipe on engine V; leaves: inputs + params. Returns the root."""
    nodes = list(leaves) + [V(0.75), V(-1.5)]        # two constant leaves
    for op, (i, j, *more), c in recipe:
        nodes.append(RANDOM_OPS[op](V, nodes[i], nodes[j], c, [nodes[m] for m in more]))
    # every step's node reaches the root, so the whole recipe is compiled
    return V.sum(nodes[NINPUTS + NPARAMS + 2:]) * nodes[-7] + nodes[-1]


def compile_random(V, seed):
    inputs = [V(0.5) for _ in range(NINPUTS)]
    params = [V(random.Random(seed + 1000 * i).uniform(-1, 1)) for i in range(NPARAMS)]
    root = build(V, inputs + params, random_recipe(seed))
    return pygrad.compile(root, inputs=inputs, params=params), params


def outcome(prog, params, batch, scale):
    """What one accumulate call does: its outputs and grads, or its error."""
    for p in params:
        p.grad = 0.0
    try:
        out = prog.accumulate(batch, scale=scale)
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        return (type(exc), str(exc), bits(grads(params)))
    return (bits(out), bits(grads(params)))


def random_batch(seed, n=25):
    rng = np.random.default_rng(seed)
    return rng.uniform(-3, 3, size=(n, NINPUTS))


@pytest.mark.parametrize("seed", range(25))
def test_c_program_equals_reference_program_bitwise(seed):
    pytest.importorskip("pygrad.cengine")
    c_prog, c_params = compile_random(value_class("c"), seed)
    r_prog, r_params = compile_random(value_class("python"), seed)
    assert len(c_prog) == len(r_prog) > len(random_recipe(seed))
    batch = random_batch(seed)
    c_result = outcome(c_prog, c_params, batch, 0.3)
    assert c_result == outcome(r_prog, r_params, batch, 0.3)
    assert len(c_result) == 2, c_result               # the recipe keeps rows in the domains
    assert any(g not in ("0.0", "-0.0") for g in c_result[1])


SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, -1e-310, 700.0, -745.5]


@pytest.mark.parametrize("seed", range(25))
def test_c_program_equals_reference_program_on_special_values(seed):
    # NaN, infinities, signed zeros, huge and subnormal inputs: same bits, or
    # the same error for the same row, on both engines
    pytest.importorskip("pygrad.cengine")
    rng = random.Random(seed)
    batch = np.array([[rng.choice(SPECIALS) if rng.random() < 0.5 else rng.uniform(-2, 2)
                       for _ in range(NINPUTS)] for _ in range(12)])
    c_prog, c_params = compile_random(value_class("c"), seed)
    r_prog, r_params = compile_random(value_class("python"), seed)
    assert outcome(c_prog, c_params, batch, 1.0) == outcome(r_prog, r_params, batch, 1.0)


UNGUARDED = {
    "div": lambda x, y: x / y, "pow": lambda x, y: x ** y, "powk": lambda x, y: x ** -1.5,
    "rpow": lambda x, y: 10.0 ** x, "log": lambda x, y: x.log(), "exp": lambda x, y: x.exp(),
    "sigmoid": lambda x, y: x.sigmoid(), "tanh": lambda x, y: x.tanh(), "relu": lambda x, y: x.relu(),
    "mul": lambda x, y: x * y, "sub": lambda x, y: x - y, "sum": lambda x, y: x.sum([x, y, y]),
}
EDGE_ROWS = [[a, b] for a in SPECIALS + [-8.0, 0.5, 2.0] for b in SPECIALS + [1 / 3, -1.0, 2.0]]


def row_outcomes(V, f):
    """Each edge row's outcome on its own: value and grads, or the error."""
    x, w = V(1.0), V(2.0)
    prog = pygrad.compile(f(x, w), inputs=[x], params=[w])
    results = []
    for a, b in EDGE_ROWS:
        w.data = b
        results.append(outcome(prog, [w], [[a]], 1.0))
    return results


@pytest.mark.parametrize("op", UNGUARDED)
def test_c_program_equals_reference_program_at_the_edges_of_each_op(op):
    # domain errors, overflow, NaN, inf and signed zeros, op by op: the same
    # bits or the same error (type and message) on both engines
    pytest.importorskip("pygrad.cengine")
    c = row_outcomes(value_class("c"), UNGUARDED[op])
    assert c == row_outcomes(value_class("python"), UNGUARDED[op])
    if op in ("div", "pow", "powk", "log", "exp", "rpow"):
        assert any(len(r) == 3 for r in c)      # some rows do fail


@pytest.mark.parametrize("op", UNGUARDED)
def test_compiled_equals_eager_at_the_edges_of_each_op(engine, op):
    # the eager op raises the same exception type where the compiled row
    # fails (its message names the op, the compiled one names the row)
    for (a, b), got in zip(EDGE_ROWS, row_outcomes(engine, UNGUARDED[op])):
        x, w = engine(a), engine(b)
        try:
            out = UNGUARDED[op](x, w)
        except (ValueError, ZeroDivisionError, OverflowError) as exc:
            assert got[0] is type(exc) and got[1] == f"row 0: {str(exc).split(': ')[1]}", (a, b)
            continue
        out.backward()
        assert got == (bits([out.data]), bits([w.grad])), (a, b)


@pytest.mark.parametrize("seed", range(6))
def test_random_program_equals_eager_graph_bitwise(engine, seed):
    # eager: rebuild the graph with each row's values and backward() it, grads
    # accumulating; the compiled sweep is the eager sweep (same sort, same order)
    prog, params = compile_random(engine, seed)
    batch = random_batch(seed, n=8)
    recipe = random_recipe(seed)
    eager_out = []
    for p in params:
        p.grad = 0.0
    for row in batch.tolist():
        root = build(engine, [engine(v) for v in row] + params, recipe)
        eager_out.append(root.data)
        (0.5 * root).backward()          # what accumulate(scale=0.5) does for each row
    expected = grads(params)
    for p in params:
        p.grad = 0.0
    assert bits(prog.accumulate(batch, scale=0.5)) == bits(eager_out)
    assert bits(grads(params)) == bits(expected)


# -- params and constants are the user's live Values ----------------------------------


def test_program_reads_param_data_at_every_run(engine):
    c = Compiled(seed=5)
    batch = batch_of(20)
    before = c.prog.forward_batch(batch)
    c.prog.accumulate(batch, scale=1 / 20)
    optim.SGD(c.params, lr=0.5).step()
    after = c.prog.forward_batch(batch)
    assert bits(after) != bits(before)
    # the eager API on the same model sees the same new weights
    assert bits(after) == bits(c.eager_loss(row).data for row in batch.tolist())


def test_eager_api_keeps_working_on_a_compiled_model(engine):
    at = (0.3, -0.2, -1.0)
    c = Compiled(seed=6, at=at)
    row = batch_of(5)[2].tolist()
    c.prog.accumulate([row])
    compiled = grads(c.params)
    c.model.zero_grad()
    c.eager_loss(row).backward()
    assert bits(grads(c.params)) == bits(compiled)
    # the traced graph itself is still an eager graph: backward() on it
    # gives the gradient at the placeholders' values, as a compiled row does
    c.model.zero_grad()
    c.loss.backward()
    eager = grads(c.params)
    c.model.zero_grad()
    c.prog.accumulate([at])
    assert bits(grads(c.params)) == bits(eager)
    assert any(g != 0.0 for g in eager)


def test_constants_are_read_at_every_run(engine):
    x, k = engine(0.0), engine(2.0)       # k: a constant leaf the user keeps
    prog = pygrad.compile(x * k + 1.0, inputs=[x])
    assert prog(3.0) == 7.0
    k.data = -1.0
    assert prog(3.0) == -2.0


def test_an_input_absent_from_the_graph_still_takes_a_column(engine):
    x, unused, w = engine(0.0), engine(0.0), engine(3.0)
    prog = pygrad.compile(w * x, inputs=[x, unused], params=[w])
    assert prog.accumulate([[2.0, 99.0], [1.0, -5.0]]).tolist() == [6.0, 3.0]
    assert w.grad == 3.0


def test_root_that_is_a_param_or_an_input(engine):
    x, w = engine(0.0), engine(1.5)
    prog = pygrad.compile(w, inputs=[x], params=[w])
    assert prog.accumulate([[1.0], [2.0], [3.0]], scale=0.5).tolist() == [1.5] * 3
    assert w.grad == 1.5
    echo = pygrad.compile(x, inputs=[x])
    assert echo.forward_batch([[4.0], [-0.0]]).tolist() == [4.0, -0.0]


def test_program_without_inputs_runs_on_empty_rows(engine):
    w = engine(3.0)
    prog = pygrad.compile(w * w, params=[w])
    assert prog() == 9.0
    assert prog.accumulate(np.empty((2, 0))).tolist() == [9.0, 9.0]
    assert w.grad == 12.0


def test_program_survives_the_loss_graph_being_dropped(engine):
    c = Compiled(seed=7)
    batch = batch_of(10)
    expected = bits(c.prog.forward_batch(batch))
    prog = c.prog
    del c
    gc.collect()
    assert bits(prog.forward_batch(batch)) == expected
    prog.accumulate(batch)
    assert any(p.grad != 0.0 for p in prog.params)


def test_dropping_the_program_frees_every_node(live_nodes, run_on):
    def check():
        baseline = live_nodes()
        c = Compiled(seed=8)
        prog = c.prog
        prog.accumulate(batch_of(10))
        with_graph = live_nodes()
        del c
        holding = live_nodes()
        assert baseline < holding <= with_graph    # the program keeps its graph's nodes alive
        del prog
        assert live_nodes() == baseline
    run_on("c", check)


def test_compile_error_leaks_nothing(live_nodes):
    C = pytest.importorskip("pygrad.cengine").Value
    x = C(1.0)
    y = x * 2
    baseline = live_nodes()
    with pytest.raises(ValueError):
        pygrad.compile(y, inputs=[x, x])
    assert live_nodes() == baseline


# -- batches -------------------------------------------------------------------------


@pytest.fixture
def affine(engine):
    """out = 1*a + 10*b + 100*c + w, distinct per column; grad of w = rows."""
    a, b, c, w = engine(0.0), engine(0.0), engine(0.0), engine(0.5)
    prog = pygrad.compile(a + 10 * b + 100 * c + w, inputs=[a, b, c], params=[w])
    return prog, w


ROWS = [[1.0, 2.0, 3.0], [4.0, -5.0, 6.0]]
EXPECTED = [321.5, 554.5]


@pytest.mark.parametrize("dtype", ["int8", "int64", "uint16", "float16", "float32", ">f8", "<f4", "float64"])
def test_real_dtypes_are_converted(affine, dtype):
    prog, _ = affine
    a = np.array(ROWS if dtype[0] != "u" else np.abs(ROWS), dtype=dtype)
    expected = prog.forward_batch(a.astype(np.float64))
    assert bits(prog.forward_batch(a)) == bits(expected)
    if dtype[0] != "u":
        assert prog.forward_batch(a).tolist() == EXPECTED    # never reinterpreted bytes
    assert bits(prog.accumulate(a)) == bits(expected)


def test_bool_lists_and_tuples_are_converted(affine):
    prog, _ = affine
    assert prog.forward_batch(np.array([[True, False, True]])).tolist() == [101.5]
    assert prog.forward_batch(ROWS).tolist() == EXPECTED
    assert prog.forward_batch(tuple(map(tuple, ROWS))).tolist() == EXPECTED


@pytest.mark.parametrize("layout", ["reversed columns", "fortran", "strided rows", "transposed"])
def test_non_contiguous_batches(affine, layout):
    prog, _ = affine
    base = np.arange(24, dtype=float).reshape(8, 3) - 7.5
    a = {
        "reversed columns": base[:, ::-1],
        "fortran": np.asfortranarray(base),
        "strided rows": base[::3],
        "transposed": np.ascontiguousarray(base.T).T,
    }[layout]
    assert not a.flags.c_contiguous
    expected = [r[0] + 10 * r[1] + 100 * r[2] + 0.5 for r in a.tolist()]
    assert prog.forward_batch(a).tolist() == expected


def test_batch_is_not_modified_and_read_only_batches_work(affine):
    prog, _ = affine
    a = np.array(ROWS)
    a.flags.writeable = False
    assert prog.accumulate(a).tolist() == EXPECTED
    assert a.tolist() == ROWS


def test_each_call_returns_a_new_array(affine):
    prog, _ = affine
    first = prog.forward_batch(ROWS)
    second = prog.forward_batch([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert first.tolist() == EXPECTED and second.tolist() == [0.5, 111.5]


@pytest.mark.parametrize("bad", [
    np.zeros(3), np.zeros((2, 2)), np.zeros((2, 4)), np.zeros((2, 3, 1)), np.float64(1.0),
    [], [[1.0, 2.0]], [1.0, 2.0, 3.0],
], ids=["1-D", "2 columns", "4 columns", "3-D", "0-D", "empty list", "short row", "flat list"])
def test_wrong_shapes_raise_valueerror(affine, bad):
    prog, w = affine
    with pytest.raises(ValueError, match=r"batch must have shape \(rows, 3\)"):
        prog.forward_batch(bad)
    with pytest.raises(ValueError, match=r"batch must have shape \(rows, 3\)"):
        prog.accumulate(bad)
    assert w.grad == 0.0


def test_wrong_number_of_call_arguments(affine):
    prog, _ = affine
    with pytest.raises(ValueError, match=r"shape \(rows, 3\)"):
        prog(1.0, 2.0)


@pytest.mark.parametrize("bad", [
    np.zeros((2, 3), dtype=complex), np.zeros((2, 3), dtype=object), np.array([["1", "2", "3"]]),
    np.zeros((2, 3), dtype="datetime64[s]"), np.zeros((2, 3), dtype="timedelta64[s]"),
], ids=["complex", "object", "str", "datetime", "timedelta"])
def test_non_real_dtypes_raise_typeerror(affine, bad):
    prog, w = affine
    with pytest.raises(TypeError, match="batch must hold real numbers"):
        prog.forward_batch(bad)
    with pytest.raises(TypeError, match="batch must hold real numbers"):
        prog.accumulate(bad)
    assert w.grad == 0.0


def test_empty_batch(affine):
    prog, w = affine
    out = prog.forward_batch(np.empty((0, 3)))
    assert out.shape == (0,) and out.dtype == np.float64
    assert prog.accumulate(np.empty((0, 3), dtype=np.float32)).shape == (0,)
    assert w.grad == 0.0


def test_large_batch(affine, engine):
    prog, w = affine
    n = 100_000 if pygrad.get_engine() == "c" else 10_000      # the replay is plain Python
    a = np.random.default_rng(0).integers(-1000, 1000, size=(n, 3)).astype(float)
    out = prog.accumulate(a)
    assert np.array_equal(out, a[:, 0] + 10 * a[:, 1] + 100 * a[:, 2] + 0.5)  # exact: small integers
    assert w.grad == float(n)


# -- errors -------------------------------------------------------------------------

FAILING = [
    ("log", lambda x: x.log(), [[1.0], [2.0], [-1.0], [3.0]], ValueError, "row 2: math domain error"),
    ("div", lambda x: 1 / x, [[1.0], [0.0]], ZeroDivisionError, "row 1: division by zero"),
    ("exp", lambda x: x.exp(), [[1.0], [2.0], [3.0], [1000.0]], OverflowError, "row 3: math range error"),
    ("pow", lambda x: x ** -1, [[0.0]], ZeroDivisionError, "row 0: division by zero"),
]


@pytest.mark.parametrize("name, f, rows, exc, message", FAILING, ids=[f[0] for f in FAILING])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "accumulate"])
def test_a_failing_row_raises_naming_it_and_adds_nothing(engine, name, f, rows, exc, message, backward):
    x, w = engine(1.0), engine(2.0)
    prog = pygrad.compile(f(x * w * 0.5), inputs=[x], params=[w])   # x * 1.0
    w.grad = 0.25
    run = prog.accumulate if backward else prog.forward_batch
    with pytest.raises(exc) as info:
        run(rows)
    assert str(info.value) == message            # the same literal text on both engines
    assert w.grad == 0.25                         # not even the good rows' gradients
    # the program is still usable: the good rows alone
    good = rows[:int(message.split()[1].rstrip(":"))] or [[1.0]]
    assert len(prog.accumulate(good)) == len(good)
    assert w.grad != 0.25


def bad_compile_args(V, other_V):
    x, w = V(1.0), V(2.0)
    loss = x * w
    return {
        "non-leaf input": (loss, {"inputs": [loss]}, ValueError,
                           "compile: inputs and params must be leaf Values (made with Value(x))"),
        "non-leaf param": (loss, {"params": [loss * 2]}, ValueError,
                           "compile: inputs and params must be leaf Values (made with Value(x))"),
        "duplicate input": (loss, {"inputs": [x, x]}, ValueError,
                            "compile: a Value appears twice among inputs and params"),
        "input and param": (loss, {"inputs": [x], "params": [x]}, ValueError,
                            "compile: a Value appears twice among inputs and params"),
        "other engine input": (loss, {"inputs": [other_V(1.0)]}, TypeError,
                               f"compile: inputs and params must be {V.__module__}.Value "
                               f"(the root's engine), not {other_V.__module__}.Value"),
        "number input": (loss, {"inputs": [1.0]}, TypeError,
                         f"compile: inputs and params must be {V.__module__}.Value "
                         f"(the root's engine), not builtins.float"),
        "number root": (3.0, {}, TypeError, "pygrad.compile needs a pygrad Value, not float"),
        "None root": (None, {}, TypeError, "pygrad.compile needs a pygrad Value, not NoneType"),
    }


@pytest.mark.parametrize("case", ["non-leaf input", "non-leaf param", "duplicate input", "input and param",
                                  "other engine input", "number input", "number root", "None root"])
def test_bad_compile_arguments(engine, case):
    pytest.importorskip("pygrad.cengine")
    other = {"c": "python", "python": "c"}[pygrad.get_engine()]
    root, kwargs, exc, message = bad_compile_args(engine, value_class(other))[case]
    with pytest.raises(exc) as info:
        pygrad.compile(root, **kwargs)
    assert str(info.value) == message


def test_root_of_the_other_engine(engine):
    pytest.importorskip("pygrad.cengine")
    other = value_class({"c": "python", "python": "c"}[pygrad.get_engine()])
    x = engine(1.0)
    with pytest.raises(TypeError, match="compile: inputs and params must be"):
        pygrad.compile(other(2.0) * 3, inputs=[x])


# -- a compiled training run equals the eager one ---------------------------------------


def eager_training(X, y, steps, alpha):
    """micrograd's loop: one graph per step over all rows, mean hinge + L2, SGD."""
    V = pygrad.Value
    random.seed(21)
    model = nn.MLP(2, [8, 8, 1])
    losses = []
    for k in range(steps):
        rows = [hinge(model, [V(a), V(b)], yi) for (a, b), yi in zip(X.tolist(), y.tolist())]
        total = sum(rows) * (1.0 / len(rows)) + alpha * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        losses.append(total.data)
    return losses, [p.data for p in model.parameters()]


def compiled_training(X, y, steps, alpha):
    """The same, with the per-row loss and the L2 term compiled once."""
    V = pygrad.Value
    random.seed(21)
    model = nn.MLP(2, [8, 8, 1])
    params = model.parameters()
    x, yv = [V(0.0), V(0.0)], V(0.0)
    step = pygrad.compile(hinge(model, x, yv), inputs=x + [yv], params=params)
    l2 = pygrad.compile(alpha * pygrad.sum([p * p for p in params]), params=params)
    opt = optim.SGD(params, lr=1.0)
    batch, losses = np.c_[X, y], []
    for k in range(steps):
        opt.zero_grad()
        per_row = step.accumulate(batch, scale=1.0 / len(batch))
        reg = l2.accumulate(np.empty((1, 0)))[0]
        data_loss = 0.0
        for loss in per_row.tolist():
            data_loss += loss
        losses.append(data_loss * (1.0 / len(batch)) + reg)
        opt.lr = 1.0 - 0.9 * k / 100
        opt.step()
    return losses, [p.data for p in params]


def test_compiled_training_equals_eager_training(engine):
    X, y = moons_like(40, seed=3)
    eager_losses, eager_params = eager_training(X, y, steps=15, alpha=1e-4)
    losses, params = compiled_training(X, y, steps=15, alpha=1e-4)
    assert losses == pytest.approx(eager_losses, rel=1e-12, abs=0)
    assert params == pytest.approx(eager_params, rel=1e-10, abs=1e-14)
    assert losses[-1] < losses[0] / 2           # it did learn


def test_compiled_training_identical_on_both_engines(run_on):
    X, y = moons_like(40, seed=3)

    def run():
        losses, params = compiled_training(X, y, steps=10, alpha=1e-4)
        return bits(losses) + bits(params)
    assert run_on("c", run) == run_on("python", run)


def test_scale_must_be_a_real_number(engine):
    x, w = engine(0.0), engine(2.0)
    prog = pygrad.compile(x * w, inputs=[x], params=[w])
    with pytest.raises(TypeError, match="real numbers"):
        prog.accumulate([[1.0]], scale="0.5")
    assert w.grad == 0.0


def test_program_does_not_keep_the_eager_graph_alive(live_nodes):
    cengine = pytest.importorskip("pygrad.cengine")
    V = cengine.Value
    base = live_nodes()                   # (PyPy frees dropped handles' nodes only when it collects)
    x, w = V(0.0), V(2.0)
    loss = ((x * w).tanh() + 1.0) ** 2
    prog = pygrad.compile(loss, inputs=[x], params=[w])
    del loss
    # Only the leaves stay in the pool: x, w and the constants 1.0 and 2.
    assert live_nodes() - base == 4
    assert prog(0.5) == (math.tanh(1.0) + 1.0) ** 2


@pytest.mark.parametrize("bad_row", [0, 13, 31, 35])
def test_forward_batch_in_blocks_names_the_first_bad_row(engine, bad_row):
    """Forward-only runs go 8 rows at a time in C: rows inside and after the
    full blocks must give the row-by-row values, and an error the first bad row."""
    x, w = engine(0.0), engine(0.5)
    prog = pygrad.compile(engine.dot([w, w], [x, x.tanh()], 0.25).log(), inputs=[x], params=[w])
    rows = [[0.1 * (i + 1)] for i in range(37)]
    expected = [math.log(0.25 + 0.5 * r[0] + 0.5 * math.tanh(r[0])) for r in rows]
    assert [repr(float(v)) for v in prog.forward_batch(rows)] == [repr(v) for v in expected]
    rows[bad_row] = [-5.0]                 # log of a negative number
    rows[min(bad_row + 3, 36)] = [-7.0]    # a later bad row must not be the one named
    with pytest.raises(ValueError, match=f"^row {bad_row}: math domain error$"):
        prog.forward_batch(rows)


# -- accumulate runs 8 rows at a time where each param is read once per row ----------


@pytest.mark.parametrize("start", [0.0, -0.0, 1.5])
@pytest.mark.parametrize("bias", [-0.5, -5.0])          # -5: every relu dead, the grads stay signed zeros
def test_blocked_accumulate_keeps_signed_zeros_and_order(engine, start, bias):
    """relu(w * x + b) rows, many with a dead relu: each row adds +0.0 or
    -0.0 or a real gradient into w and b; the 8-row blocks must add them
    exactly as eager backward calls do, row after row."""
    x, w, b = engine(0.0), engine(0.75), engine(bias)
    prog = pygrad.compile((w * x + b).relu(), inputs=[x], params=[w, b])
    rows = [[(-1) ** i * 0.1 * i] for i in range(37)] + [[0.0], [-0.0]]
    for scale in (-0.5, 1.0):
        w.grad = b.grad = start
        for (xr,) in rows:
            (scale * (w * xr + b).relu()).backward()
        expected = [repr(w.grad), repr(b.grad)]
        w.grad = b.grad = start
        prog.accumulate(rows, scale=scale)
        assert [repr(w.grad), repr(b.grad)] == expected


@pytest.mark.parametrize("bad_row", [3, 13, 35])
def test_blocked_accumulate_names_the_bad_row_and_adds_nothing(engine, bad_row):
    x, w = engine(1.0), engine(0.5)
    prog = pygrad.compile(engine.dot([w], [x], 0.25).log(), inputs=[x], params=[w])
    rows = [[0.1 * (i + 1)] for i in range(37)]
    rows[bad_row] = [-5.0]
    w.grad = 0.125
    with pytest.raises(ValueError, match=f"^row {bad_row}: math domain error$"):
        prog.accumulate(rows)
    assert w.grad == 0.125


@pytest.mark.parametrize("nrows", [3, 4, 8, 12, 13, 15, 21])
@pytest.mark.parametrize("order", ["in order", "shuffled"])
def test_blocked_accumulate_of_a_layer_equals_eager_bitwise(engine, nrows, order):
    """Two relu neurons of six weights, then a dot of them: full blocks,
    tails of any length, params listed in the layer's order (weights taken
    several at a time) or shuffled; the grads and outputs must be eager's,
    bit for bit."""
    rng = random.Random(nrows)
    xs = [engine(0.0) for _ in range(6)]
    layer = [[engine(rng.uniform(-1, 1)) for _ in range(7)] for _ in range(2)]
    top = [engine(rng.uniform(-1, 1)) for _ in range(3)]

    def net(inputs):
        hidden = [engine.dot(n[:6], inputs, n[6]).relu() for n in layer]
        return engine.dot(top[:2], hidden, top[2])
    params = [p for n in layer for p in n] + top
    if order == "shuffled":
        rng.shuffle(params)
    prog = pygrad.compile(net(xs), inputs=xs, params=params)
    rows = [[rng.uniform(-2, 2) for _ in range(6)] for _ in range(nrows)]
    for p in params:
        p.grad = 0.25
    expected_out = []
    for r in rows:
        out = net(r)
        expected_out.append(repr(out.data))
        (-0.5 * out).backward()
    expected = [repr(p.grad) for p in params]
    for p in params:
        p.grad = 0.25
    got_out = prog.accumulate(rows, scale=-0.5)
    assert [repr(float(v)) for v in got_out] == expected_out
    assert [repr(p.grad) for p in params] == expected


def test_blocked_accumulate_adds_negative_zeros_exactly(engine):
    # scale -0.0: every row adds x * -0.0 == -0.0 into w, which must stay -0.0
    x, w = engine(0.0), engine(2.0)
    prog = pygrad.compile(w * x, inputs=[x], params=[w])
    w.grad = -0.0
    prog.accumulate([[0.5 + i] for i in range(16)], scale=-0.0)
    assert repr(w.grad) == "-0.0"


def test_program_functions_refuse_null_and_bad_arguments():
    """The C contract of programs: NULL pointers and bad ids are PG_EINVAL, never a crash."""
    cengine = pytest.importorskip("pygrad.cengine")
    from pygrad._ffi import ffi, lib
    x, w = cengine.Value(1.0), cengine.Value(2.0)
    y = x * w
    out = ffi.new("pg_program **")
    EINVAL = lib.PG_EINVAL
    assert lib.pg_compile(y._id, 1, [x._id], 1, [w._id], ffi.NULL) == EINVAL
    assert lib.pg_compile(y._id, 1, ffi.NULL, 0, ffi.NULL, out) == EINVAL
    assert lib.pg_compile(y._id, 0, ffi.NULL, 1, ffi.NULL, out) == EINVAL
    assert lib.pg_compile(-1, 0, ffi.NULL, 0, ffi.NULL, out) == EINVAL
    assert lib.pg_compile(y._id, 1, [10 ** 9], 0, ffi.NULL, out) == EINVAL
    assert lib.pg_compile(y._id, 1, [x._id], 1, [w._id], out) == lib.PG_OK
    prog = ffi.gc(out[0], lib.pg_program_free)
    bad_row, res = ffi.new("int64_t *"), ffi.new("double[1]")
    assert lib.pg_program_run(prog, 1, [3.0], res, 1, 1.0, ffi.NULL) == EINVAL
    assert lib.pg_program_run(ffi.NULL, 1, [3.0], res, 1, 1.0, bad_row) == EINVAL
    assert lib.pg_program_run(prog, 1, ffi.NULL, res, 1, 1.0, bad_row) == EINVAL
    assert lib.pg_program_run(prog, 1, [3.0], ffi.NULL, 1, 1.0, bad_row) == EINVAL
    assert lib.pg_program_run(prog, -1, [3.0], res, 1, 1.0, bad_row) == EINVAL
    assert lib.pg_program_size(ffi.NULL) == -1
    assert lib.pg_program_held_constants(ffi.NULL, 0, ffi.NULL) == -EINVAL
    assert lib.pg_program_held_constants(prog, 3, ffi.NULL) == -EINVAL
    lib.pg_program_free(ffi.NULL)
    assert lib.pg_program_run(prog, 1, [3.0], res, 1, 1.0, bad_row) == lib.PG_OK
    assert res[0] == 6.0 and w.grad == 3.0


# -- every op of the op table, compiled ---------------------------------------------

COMPILING = [op for op in optable.OPS if op.compiles]


@pytest.mark.parametrize("op", COMPILING, ids=lambda op: op.name)
def test_every_op_of_the_table_runs_compiled_as_eager(engine, op):
    """Each row at each of its points, its leaves as params, compiled: the
    value and the params' grads of the eager graph, bitwise. (Compiled at
    each point: detach's copy is a constant of the graph.)"""
    for point in op.points:
        params = [engine(x) for x in point]
        out = pygrad.compile(op.build(engine, *params), params=params).accumulate(np.empty((1, 0)))
        leaves = [engine(x) for x in point]
        eager = op.build(engine, *leaves)
        eager.backward()
        assert bits([out[0]] + grads(params)) == bits([eager.data] + grads(leaves))


@pytest.mark.parametrize("op", [op for op in optable.OPS if not op.compiles], ids=lambda op: op.name)
def test_a_graph_with_a_users_op_is_refused_naming_it(engine, op):
    leaves = [engine(x) for x in op.points[0]]
    root = op.build(engine, *leaves) * 2
    with pytest.raises(TypeError, match="pygrad's operators") as info:
        pygrad.compile(root, params=leaves)
    assert (repr(op.label) if op.label else "microgpt-style op") in str(info.value)


def test_the_compiled_rows_reach_every_op_a_program_can_run():
    """Every op code but a user's op appears in some compiled row's graph, so
    no op exists untested in compiled mode."""
    from pygrad import _ops
    Ref = value_class("python")
    seen, stack = set(), [op.build(Ref, *map(Ref, op.points[0])) for op in COMPILING]
    while stack:
        v = stack.pop()
        seen.add(v._opcode)
        stack.extend(v._children)
    assert seen == set(range(len(_ops.OPS))) - {_ops.CUSTOM, _ops.HOOK}


def test_compile_fn_refuses_a_users_op_too(engine):
    w = engine(0.5)
    f = pygrad.compile_fn(lambda x: optable.micrograd_tanh(engine, x * w), params=[w])
    with pytest.raises(TypeError, match="custom op \\('tanh'"), pytest.warns(pygrad.TracerWarning):
        f(0.3)   # (its tanh reads .data: reported before the op is refused)
    assert w.grad == 0.0
