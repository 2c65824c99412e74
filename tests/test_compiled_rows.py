"""Single-row compiled programs give eager's numbers bit for bit.

A compiled function called one row at a time (microgpt's training step)
runs row by row. There the C program runs the chains of a linear layer
(`[sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]`), and attention's
dot products over a shared query, as one dense kernel (csrc/rows.c), several
chains per pass, wherever the topological order put them. Each test runs
microgpt-like functions through `compile_fn(...).accumulate(row)` one row
per call and checks every output and every param's grad against eager
`(scale * out).backward()` calls on the same rows, bitwise (`repr`), on
both engines; params are edited and stepped between calls, as training
does. `exact=False` may reorder sums: its results are checked against the
exact mode within 1e-12 relative (the reference engine stays exact).
"""
import importlib.util
import math
import random
from pathlib import Path

import pytest

import pygrad


def bits(xs):
    return [repr(float(x)) for x in xs]


def matrix(V, rng, nout, nin, std=0.5):
    return [[V(rng.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]


def linear(x, w):
    return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]


def rmsnorm(x):
    scale = (sum(xi * xi for xi in x) / len(x) + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def softmax(logits):
    top = pygrad.max_data(logits)
    exps = [(v - top).exp() for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


# -- models: fn(row of input Values) -> loss, over a dict of weight matrices ------


def mlp(w, x):
    """Two linear layers, a ReLU, a residual added to the second one's sums."""
    h = [hi.relu() for hi in linear(rmsnorm(x), w["fc1"])]
    y = [a + b for a, b in zip(linear(h, w["fc2"]), x)]
    return sum(yi * yi for yi in y) / len(y)


def attention(w, x):
    """microgpt's attention over positions made from the row: q, k, v by
    linear layers, dot products over the shared query, softmax, weighted sums."""
    n, dim = len(w["wq"]), 4
    keys, values, out = [], [], []
    for pos in range(3):
        xp = rmsnorm([xi * (pos + 1) + b for xi, b in zip(x, w["pos"][pos])])
        keys.append(linear(xp, w["wk"]))
        values.append(linear(xp, w["wv"]))
    q = linear(rmsnorm(x), w["wq"])
    for h in range(n // dim):
        hs = slice(h * dim, (h + 1) * dim)
        logits = [sum(qj * kj for qj, kj in zip(q[hs], k[hs])) / dim ** 0.5 for k in keys]
        weights = softmax(logits)
        out.extend(sum(weights[t] * values[t][hs][j] for t in range(len(values))) for j in range(dim))
    logits = linear([a + b for a, b in zip(linear(out, w["wo"]), x)], w["head"])
    return -softmax(logits)[1].log()


def constants_and_ops(w, x):
    """Chains whose weights are constants (plain numbers), ops of params
    (w * 2, tanh), a param read by two layers, and a row read twice."""
    consts = [[0.25 * (i - j) for j in range(len(x))] for i in range(3)]
    scaled = [[wi * 2 for wi in row] for row in w["fc1"]]
    a = linear(x, consts)                      # constant weights: c * x is MUL(x, c)
    b = linear(x, scaled)                      # weights computed from params
    c = linear(x, w["fc1"] + w["fc1"][:1])     # a row twice: its second chain reads the same weights
    d = linear([xi.tanh() for xi in x], w["fc1"])   # the same params again, other inputs
    e = [sum((xi * wi for xi, wi in zip(x, row)), w["fc2"][0][0]) for row in w["fc1"]]   # base a param
    return sum(v * v for v in a + b + c + d + e)


def weight_read_between(w, x):
    """A layer whose neuron k + 1's weight is also read (by tanh) between
    neuron k and neuron k + 1 in the program's order: that neuron's grads
    must not move past the tanh's."""
    y = linear(x, w["fc1"])
    return sum(yk * w["fc1"][k + 1][0].tanh() for k, yk in enumerate(y[:-1]))


def signed_zeros(w, x):
    """A layer whose outputs are scaled by -0.0 (their grads are signed
    zeros), into params whose grads start at 0.0 or -0.0."""
    y = linear(x, w["fc1"])
    return sum(-0.0 * yk for yk in y[1:]) + y[0]


def slots_in_two_roles(w, x):
    """A layer that reads one of its own weights as an input: its first
    neuron's product p * p puts p in two roles of one chain (a weight and a
    shared input), and p must get every addition, in eager's order."""
    p = w["fc1"][0][1]
    inputs = [x[0], p] + x[2:]
    y = [sum((wi * xi for wi, xi in zip(row, inputs)), w["fc2"][0][k]) for k, row in enumerate(w["fc1"])]
    return sum(yk * yk for yk in y)


def rows_reordered(w, x):
    """Three layers over one input run as one group of chains per position,
    in the order the program reaches them from its root: the first
    position's products reach them in another order (v, k, q) than the
    others' (q, k, v), as microgpt's first position does: the same weights,
    rows in another order."""
    total = 0.0
    for pos in range(3):
        xp = [xi * (pos + 1) + b for xi, b in zip(x, w["pos"][pos])]   # (its grads reach params)
        q, k, v = linear(xp, w["wq"]), linear(xp, w["wk"]), linear(xp, w["wv"])
        if pos == 0:
            total = total + sum(vi * ki * qi for qi, ki, vi in zip(q, k, v))
        else:
            total = total + sum(qi * ki * vi for qi, ki, vi in zip(q, k, v))
    return total


MODELS = {"mlp": mlp, "attention": attention, "constants and ops": constants_and_ops,
          "a weight read between": weight_read_between, "signed zeros": signed_zeros,
          "slots in two roles": slots_in_two_roles, "rows reordered": rows_reordered}


def weights(V, rng, n=8):
    return {"fc1": matrix(V, rng, 2 * n, n), "fc2": matrix(V, rng, n, 2 * n),
            "wq": matrix(V, rng, n, n), "wk": matrix(V, rng, n, n), "wv": matrix(V, rng, n, n),
            "wo": matrix(V, rng, n, n), "head": matrix(V, rng, 5, n), "pos": matrix(V, rng, 3, n)}


def params_of(w):
    return [p for mat in w.values() for row in mat for p in row]


def edit(params, rng, step):
    """Change the params between calls, as a user or an optimizer would."""
    for p in params[step::5]:
        p.data = p.data * 0.75 + rng.uniform(-0.1, 0.1)


def run_eager(V, fn, params, rows, scale, seed):
    """Per row: (scale * fn(row)).backward(), params edited between rows."""
    rng, outs, grads = random.Random(seed), [], []
    for step, row in enumerate(rows):
        out = fn([V(v) for v in row])
        (scale * out).backward()
        outs.append(out.data)
        grads.append(bits(p.grad for p in params))
        edit(params, rng, step)
    return outs, grads


def run_compiled(compiled, params, rows, scale, seed):
    """The same, one row per accumulate call."""
    rng, outs, grads = random.Random(seed), [], []
    for step, row in enumerate(rows):
        outs.append(compiled.accumulate(row, scale=scale))
        grads.append(bits(p.grad for p in params))
        edit(params, rng, step)
    return outs, grads


def fresh(V, model, seed=3, n=8):
    rng = random.Random(seed)
    w = weights(V, rng, n)
    params = params_of(w)
    for p in params:
        p.grad = rng.choice([0.0, -0.0, 0.5])
    rows = [[rng.uniform(-2, 2) for _ in range(n)] for _ in range(4)]
    return w, params, rows, (lambda x: MODELS[model](w, x))


def snapshot(params):
    return [(p.data, p.grad) for p in params]


def restore(params, state):
    for p, (d, g) in zip(params, state):
        p.data, p.grad = d, g


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scale, width", [(1.0, 8), (-0.375, 11)])
def test_one_row_per_call_equals_eager_bitwise(engine, model, scale, width):
    """Widths 8 and 11: the kernels' 8-wide blocks, and their tails."""
    w, params, rows, fn = fresh(engine, model, n=width)
    compiled = pygrad.compile_fn(fn, params=params)
    compiled(rows[0])   # traced now: tracing changes no grad
    state = snapshot(params)
    expected = run_eager(engine, fn, params, rows, scale, seed=5)
    restore(params, state)
    got = run_compiled(compiled, params, rows, scale, seed=5)
    assert bits(got[0]) == bits(expected[0])
    assert got[1] == expected[1]


@pytest.mark.parametrize("nrows", [1, 3, 9, 11])
def test_batches_through_blocks_then_rows_equal_eager_bitwise(engine, nrows):
    """pygrad.compile over batches: 8-row blocks first (in lanes), the tail
    row by row through the layers' kernels, starting from the grads the
    blocks left."""
    np = pytest.importorskip("numpy")
    w, params, _, fn = fresh(engine, "mlp", seed=nrows)
    rng = random.Random(nrows)
    rows = [[rng.uniform(-2, 2) for _ in range(8)] for _ in range(nrows)]
    xs = [engine(0.0) for _ in range(8)]
    prog = pygrad.compile(fn(xs), inputs=xs, params=params)
    start = [p.grad for p in params]
    expected_out = []
    for row in rows:
        out = fn([engine(v) for v in row])
        expected_out.append(out.data)
        (0.5 * out).backward()
    expected = bits(p.grad for p in params)
    for p, g in zip(params, start):
        p.grad = g
    assert bits(prog.accumulate(np.array(rows), scale=0.5)) == bits(expected_out)
    assert bits(p.grad for p in params) == expected
    assert bits(prog.forward_batch(np.array(rows))) == bits(expected_out)


def test_a_failing_row_leaves_every_grad_as_it_was(engine):
    """Row 2 of 3 takes the log of a negative number: ValueError naming it,
    and no param's grad changes, those the layers' kernels hold included."""
    np = pytest.importorskip("numpy")
    w, params, rows, fn = fresh(engine, "mlp", seed=4)
    xs = [engine(1.0) for _ in range(8)]
    prog = pygrad.compile((fn(xs) * xs[0]).log(), inputs=xs, params=params)
    before = bits(p.grad for p in params)
    batch = np.array([[1.0] * 8, [0.5] * 8, [-1.0] * 8])
    with pytest.raises(ValueError, match="row 2"):
        prog.accumulate(batch)
    assert bits(p.grad for p in params) == before


@pytest.mark.parametrize("model", MODELS)
def test_forward_one_row_equals_eager_bitwise(engine, model):
    w, params, rows, fn = fresh(engine, model, seed=11)
    compiled = pygrad.compile_fn(fn, params=params)
    for row in rows:
        assert repr(compiled(row)) == repr(fn([engine(v) for v in row]).data)


def test_optimizer_steps_between_calls_are_read(engine):
    """Adam in C changes the params between calls: every run reads them anew."""
    w, params, rows, fn = fresh(engine, "attention", seed=7)
    compiled = pygrad.compile_fn(fn, params=params)
    compiled(rows[0])
    state = snapshot(params)
    results = []
    for use_compiled in (False, True):
        restore(params, state)
        opt = pygrad.optim.Adam(params, lr=0.05)
        losses = []
        for row in rows * 2:
            if use_compiled:
                losses.append(compiled.accumulate(row))
            else:
                out = fn([engine(v) for v in row])
                out.backward()
                losses.append(out.data)
            opt.step()
            opt.zero_grad()
        results.append((bits(losses), bits(p.data for p in params)))
    assert results[0] == results[1]


def load_microgpt():
    path = Path(__file__).resolve().parent.parent / "examples" / "microgpt.py"
    spec = importlib.util.spec_from_file_location("microgpt_rows", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_microgpt_width_8_one_row_per_call_equals_eager(engine):
    """The example's compiled model at another width, trained through its
    programs and eagerly on the same graph (token ids as Values, so select
    and max_data are nodes in both): the losses and the trained params
    agree bitwise."""
    mg = load_microgpt()
    mg.set_n_embd(8)
    docs = ["emma", "olivia", "ava", "isabella", "sophia", "mia"]
    trained = []
    for compiled in (False, True):
        d, tok, model = mg.setup(docs, engine, mg.CompiledGPT)
        opt = pygrad.optim.Adam(model.params, lr=mg.LEARNING_RATE, betas=mg.BETAS, eps=mg.EPS)
        losses = []
        for doc in d[:3]:
            tokens = tok.encode(doc)[:mg.BLOCK_SIZE + 1]
            if compiled:
                losses.append(model.compiled_loss.accumulate(tokens))
            else:
                loss = model.loss([engine(float(t)) for t in tokens])
                loss.backward()
                losses.append(loss.data)
            opt.step()
            opt.zero_grad()
        trained.append((bits(losses), bits(p.data for p in model.params)))
    assert trained[0] == trained[1]


# -- exact=False ----------------------------------------------------------------------


def close(a, b, rel=1e-12, floor=0.0):
    return abs(a - b) <= rel * max(abs(a), abs(b), floor)


@pytest.mark.parametrize("model", MODELS)
def test_inexact_mode_within_1e12_of_exact(engine, model):
    w, params, rows, fn = fresh(engine, model, seed=13, n=16)
    exact = pygrad.compile_fn(fn, params=params)
    fast = pygrad.compile_fn(fn, params=params, exact=False)
    results = []
    for compiled in (exact, fast):
        for p in params:
            p.grad = 0.0
        outs = [compiled.accumulate(row, scale=0.5) for row in rows]
        results.append((outs, [p.grad for p in params]))
    (outs, grads), (fast_outs, fast_grads) = results
    assert all(close(a, b) for a, b in zip(outs, fast_outs))
    # A grad that sums to near 0 keeps an error of the size of its terms: compare to the largest.
    floor = max(abs(g) for g in grads)
    assert all(close(a, b, floor=floor) for a, b in zip(grads, fast_grads))
    if engine is pygrad.value_class("python"):   # the reference replay stays exact
        assert bits(outs) == bits(fast_outs) and bits(grads) == bits(fast_grads)


def test_inexact_compile_within_1e12_of_exact(engine):
    rng = random.Random(2)
    w = matrix(engine, rng, 24, 40)
    xs = [engine(0.0) for _ in range(40)]
    root = sum(v.tanh() for v in linear(xs, w))
    params = [p for row in w for p in row]
    rows = [[rng.uniform(-1, 1) for _ in range(40)] for _ in range(3)]
    np = pytest.importorskip("numpy")
    exact = pygrad.compile(root, inputs=xs, params=params)
    fast = pygrad.compile(root, inputs=xs, params=params, exact=False)
    assert fast.exact is False and exact.exact is True
    for row in rows:
        a, b = exact.forward_batch(np.array([row]))[0], fast.forward_batch(np.array([row]))[0]
        assert close(a, b) and math.isfinite(a)


@pytest.mark.parametrize("bad", [0, 1, None, "no"])
def test_exact_must_be_a_bool(engine, bad):
    x = engine(1.0)
    with pytest.raises(TypeError, match="exact must be True or False"):
        pygrad.compile(x * x, inputs=[x], exact=bad)
    with pytest.raises(TypeError, match="exact must be True or False"):
        pygrad.compile_fn(lambda v: v * v, exact=bad)


def test_a_constant_keeps_its_last_value_once_nothing_else_holds_it(engine):
    """A constant's data is read at each run while someone could change it;
    once only the program holds it, its last value stays."""
    x = engine(0.0)
    k = engine(2.0)                      # a constant the user holds
    prog = pygrad.compile(x * k + k * k, inputs=[x])
    assert prog(3.0) == 3.0 * 2.0 + 4.0
    k.data = -1.5
    assert prog(3.0) == 3.0 * -1.5 + 2.25
    del k
    import gc
    gc.collect()
    assert prog(3.0) == 3.0 * -1.5 + 2.25
    assert prog(1.0) == -1.5 + 2.25


def linear_only(w, x):
    """Chains that all run in row matrices (the params only they read): a
    layer of wide dot products, a ReLU, a layer of two, their product (no
    chain outside the matrices, whose sums exact=False reordered before)."""
    h = [hi.relu() for hi in linear(x, w["fc1"])]
    y0, y1 = linear(h, w["fc2"])
    return y0 * y1


def test_inexact_mode_reorders_the_row_matrices_dot_products(engine):
    """exact=False: a row matrix under 16 rows (fc2) runs its dot products
    in vector partial sums and the inputs' grads take the rows in two
    partial sums, so some value or grad comes out in other last bits than
    the exact mode's (within 1e-12 relative); the reference replay stays exact."""
    rng = random.Random(21)
    w = {"fc1": matrix(engine, rng, 24, 40, std=1.0), "fc2": matrix(engine, rng, 2, 24, std=1.0)}
    params = params_of(w)
    rows = [[rng.uniform(-1, 1) for _ in range(40)] for _ in range(6)]
    results = []
    for exact in (True, False):
        compiled = pygrad.compile_fn(lambda x: linear_only(w, x), params=params, exact=exact)
        for p in params:
            p.grad = 0.0
        outs = [compiled.accumulate(row) for row in rows]
        results.append((outs, [p.grad for p in params]))
    (outs, grads), (fast_outs, fast_grads) = results
    assert all(close(a, b) for a, b in zip(outs, fast_outs))
    floor = max(abs(g) for g in grads)
    assert all(close(a, b, floor=floor) for a, b in zip(grads, fast_grads))
    reordered = bits(outs) != bits(fast_outs) or bits(grads) != bits(fast_grads)
    assert reordered == (engine is pygrad.value_class("c"))


# Every vector family of the row matrices' kernels (PYGRAD_SIMD forces one,
# see test_simd_paths.py): exact mode gives eager's bits on each, exact=False
# stays within 1e-12 of it. Width 19: matrices of 19 and 38 rows and terms,
# so every family's vector loops and their scalar tails run.
PATHS_SCRIPT = r"""
import json, random, sys
sys.path.insert(0, {tests!r})
import pygrad
from pygrad._coreinfo import simd_path
from test_compiled_rows import fresh, run_compiled, run_eager, snapshot, restore, bits
out = {{"path": simd_path()}}
for model in ("mlp", "attention", "rows reordered"):
    w, params, rows, fn = fresh(pygrad.Value, model, seed=17, n=19)
    state = snapshot(params)
    eager = run_eager(pygrad.Value, fn, params, rows, 0.5, seed=5)
    for exact in (True, False):
        restore(params, state)
        got = run_compiled(pygrad.compile_fn(fn, params=params, exact=exact), params, rows, 0.5, seed=5)
        out[f"{{model}} {{exact}}"] = [bits(got[0]), got[1]]
    out[f"{{model}} eager"] = [bits(eager[0]), eager[1]]
print(json.dumps(out))
"""


def run_path(path):
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("PYGRAD_SIMD", "PYGRAD_ENGINE")}
    env["PYGRAD_SIMD"] = path
    script = PATHS_SCRIPT.format(tests=str(Path(__file__).resolve().parent))
    return subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_every_vector_family_of_the_row_matrices():
    from pygrad import _coreinfo
    if _coreinfo.simd_path() is None:
        pytest.skip("the C core is not built")
    import json
    paths = _coreinfo.SIMD_PATHS[:_coreinfo.SIMD_PATHS.index(_coreinfo.simd_best()) + 1]
    procs = [run_path(p) for p in paths]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert [r["path"] for r in results] == list(paths)   # each family really ran
    for r in results:
        for model in ("mlp", "attention", "rows reordered"):
            eager = r[f"{model} eager"]
            assert r[f"{model} True"] == eager, f"{r['path']}: exact mode differs from eager"
            fast_outs, fast_grads = r[f"{model} False"]
            assert all(close(float(a), float(b)) for a, b in zip(eager[0], fast_outs))
            for exact_row, fast_row in zip(eager[1], fast_grads):
                floor = max(abs(float(g)) for g in exact_row)
                assert all(close(float(a), float(b), floor=floor) for a, b in zip(exact_row, fast_row))
