"""The C engine against the reference engine, and both against central
finite differences, on random expression DAGs with shared subexpressions.

A program is a list of leaf values and steps (op, operand indices,
constant); each step's operands are any earlier nodes, so nodes are shared
freely. Programs come from a seeded `random.Random` (many, cheap) and from
hypothesis (which shrinks a failure to a small program). Every op of the
API appears, constants on either side included.

Then the boundary itself: a hypothesis state machine drives twin handles on
both engines through random create / combine / drop / backward / set
sequences, checking every pair after every step and the C core's node
count when it stops.

The engines agree BITWISE: every node's value and gradient is compared by
its 8 bytes, `struct.pack('<d', x)` (NaN sign and payload included; it holds
because both engines evaluate the same IEEE expressions in the same order).
"""
import gc
import itertools
import math
import random
import struct
import sys

import optable
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import pygrad
from pygrad._engines import value_class

C, Ref = value_class("c"), value_class("python")

def bits(x):
    """The 8 bytes of a float: equal bits, not just equal values (tells NaNs apart)."""
    return struct.pack("<d", x)


# -- the ops a program can use --------------------------------------------------

APPLY = {
    "add": lambda V, a, b: a + b, "sub": lambda V, a, b: a - b,
    "mul": lambda V, a, b: a * b, "div": lambda V, a, b: a / b,
    "pow": lambda V, a, b: a ** b,
    "addk": lambda V, a, k: a + k, "subk": lambda V, a, k: a - k, "mulk": lambda V, a, k: a * k,
    "divk": lambda V, a, k: a / k, "powk": lambda V, a, k: a ** k,
    "kadd": lambda V, a, k: k + a, "ksub": lambda V, a, k: k - a, "kmul": lambda V, a, k: k * a,
    "kdiv": lambda V, a, k: k / a, "kpow": lambda V, a, k: k ** a,
    "sum": lambda V, *xs: V.sum(xs),
    "dot": lambda V, *xs: V.dot(xs[:len(xs) // 2], xs[len(xs) // 2:-1], xs[-1]),
    "select": lambda V, a, b, c: pygrad.select(V(-2.0), [a, b, c]),   # b: its gradient, not a's or c's
    "maxdata": lambda V, a, b, c: pygrad.max_data([a, b, c]),
}
ARITY = {"add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "sum": None, "dot": None, "select": 3, "maxdata": 3}
# The unary methods and the users' own ops (microgpt's form, micrograd's):
# their rows of the op table.
TABLE_OPS = [op for op in optable.OPS if op.method or not op.compiles]
APPLY.update({op.name: op.build for op in TABLE_OPS})
ARITY.update({op.name: len(op.points[0]) for op in TABLE_OPS if len(op.points[0]) != 1})
WITH_CONST = {"addk", "subk", "mulk", "divk", "powk", "kadd", "ksub", "kmul", "kdiv", "kpow"}
OPS = sorted(APPLY)
# max_data has no gradient by definition, so finite differences disagree with it.
DIFFERENTIABLE = [op for op in OPS if op != "maxdata"]
POWK_EXPONENTS = [2, 3, -1, 0.5, -0.5, 1.5, 2.0]
CONSTS = [2, -3, 0.5, 1.25, -0.75]


def apply(V, nodes, step):
    op, args, k = step
    operands = [nodes[i] for i in args]
    return APPLY[op](V, *operands, k) if op in WITH_CONST else APPLY[op](V, *operands)


# -- where an op is smooth and well away from kinks and domain edges -----------


def smooth(op, xs, k):
    a = xs[0]
    rules = {
        "relu": abs(a) > 1e-3,
        "abs": abs(a) > 1e-3,
        "log": a > 0.1,
        "sqrt": a > 0.1,
        "exp": a < 4,
        "div": abs(xs[-1]) > 0.1,
        "kdiv": abs(a) > 0.1,
        "pow": a > 0.1 and abs(xs[-1]) < 4,
        "powk": abs(a) > 0.1 and (a > 0 or float(k).is_integer()),
        "kpow": k > 0 and abs(a) < 10,
    }
    return rules.get(op, True)


# -- program generation from any source of choices -----------------------------


class Seeded:
    """Choices from a seeded random.Random."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def pick(self, seq):
        return self.rng.choice(seq)

    def index(self, n):
        return self.rng.randrange(n)

    def leaf(self):
        return round(self.rng.uniform(-2.5, 2.5), 3)


class Drawn:
    """Choices drawn by hypothesis, so failures shrink."""

    def __init__(self, data):
        self.data = data

    def pick(self, seq):
        return self.data.draw(st.sampled_from(seq))

    def index(self, n):
        return self.data.draw(st.integers(0, n - 1))

    def leaf(self):
        return self.data.draw(st.floats(-2.5, 2.5, allow_nan=False))


def generate(choose, n_leaves, n_steps, V, bound=100.0, ops=OPS):
    """A program whose every step is smooth, evaluated with V to check."""
    leaves = [choose.leaf() for _ in range(n_leaves)]
    nodes = [V(x) for x in leaves]
    steps = []
    for _ in range(4 * n_steps):
        if len(steps) == n_steps:
            break
        op = choose.pick(ops)
        arity = ARITY.get(op, 1)
        if arity is None:   # n-ary: sum of 1..5 nodes; dot of m weights, m inputs and a bias
            m = 1 + choose.index(3)
            arity = m + 1 if op == "sum" else 2 * m + 1
        args = tuple(choose.index(len(nodes)) for _ in range(arity))
        k = choose.pick(POWK_EXPONENTS if op == "powk" else CONSTS)
        step = (op, args, k)
        if not smooth(op, [nodes[i].data for i in args], k):
            continue
        out = apply(V, nodes, step)
        if abs(out.data) < bound:
            nodes.append(out)
            steps.append(step)
    return leaves, steps


def run(V, leaves, steps):
    """Replay a program on engine V; the root sums every node (so every node
    has a parent and leaves are shared), then backpropagate."""
    nodes = [V(x) for x in leaves]
    for step in steps:
        nodes.append(apply(V, nodes, step))
    root = V.sum(nodes)
    root.backward()
    return nodes, root


def assert_engines_agree(C, Ref, leaves, steps):
    c_nodes, c_root = run(C, leaves, steps)
    r_nodes, r_root = run(Ref, leaves, steps)
    assert bits(c_root.data) == bits(r_root.data)
    for i, (c, r) in enumerate(zip(c_nodes, r_nodes)):
        assert (bits(c.data), bits(c.grad)) == (bits(r.data), bits(r.grad)), (i, steps)
        assert c._op == r._op


def assert_matches_finite_differences(V, leaves, steps, eps=1e-6, atol=1e-5, rtol=1e-3):
    nodes, _ = run(V, leaves, steps)
    for i, x in enumerate(leaves):
        up = run(V, leaves[:i] + [x + eps] + leaves[i + 1:], steps)[1].data
        down = run(V, leaves[:i] + [x - eps] + leaves[i + 1:], steps)[1].data
        numeric = (up - down) / (2 * eps)
        assert abs(nodes[i].grad - numeric) <= atol + rtol * abs(numeric), (i, nodes[i].grad, numeric, steps)


# -- seeded programs -------------------------------------------------------------

SEEDS = range(300)


# The first of six blocks of 50 seeds runs by default, the other five with -m slow.
@pytest.mark.parametrize("seed_block", [0] + [pytest.param(b, marks=pytest.mark.slow) for b in range(1, 6)])
def test_seeded_programs_agree_bitwise(seed_block):
    for seed in SEEDS[seed_block::6]:
        choose = Seeded(seed)
        leaves, steps = generate(choose, 1 + choose.index(6), 5 + choose.index(40), Ref)
        assert_engines_agree(C, Ref, leaves, steps)


@pytest.mark.parametrize("seed_block", range(3))
def test_seeded_programs_match_finite_differences(engine, seed_block):
    for seed in range(seed_block, 90, 3):
        choose = Seeded(10_000 + seed)
        leaves, steps = generate(choose, 1 + choose.index(4), 3 + choose.index(20), engine, ops=DIFFERENTIABLE)
        assert_matches_finite_differences(engine, leaves, steps)


def test_generated_programs_use_every_op():
    used = set()
    for seed in SEEDS:
        choose = Seeded(seed)
        used |= {op for op, _, _ in generate(choose, 3, 30, Ref)[1]}
    assert used == set(OPS)


def test_apply_covers_every_op_of_the_engines():
    """APPLY reaches every op in the engines' table (leaf aside), so an op
    added to the engines without a row here fails this test."""
    from pygrad import _ops
    codes = set()
    for name in OPS:
        k = 2 if name in WITH_CONST else None
        nodes = [Ref(0.5), Ref(1.5), Ref(0.25)]
        step = (name, (0, 1, 2)[:ARITY.get(name, 1) or 3], k)
        codes.add(apply(Ref, nodes, step)._opcode)
    assert codes == set(range(1, len(_ops.OPS)))


# -- hypothesis ------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_hypothesis_programs_agree_bitwise(data):
    choose = Drawn(data)
    leaves, steps = generate(choose, 1 + choose.index(5), 1 + choose.index(25), Ref)
    assert_engines_agree(C, Ref, leaves, steps)


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_hypothesis_programs_match_finite_differences(engine, data):
    choose = Drawn(data)
    leaves, steps = generate(choose, 1 + choose.index(4), 1 + choose.index(12), engine, ops=DIFFERENTIABLE)
    assert_matches_finite_differences(engine, leaves, steps)


# -- anything goes: NaN, inf, huge, tiny, zero, errors ---------------------------

SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0,
           1e308, -1e308, 1e-308, 5e-324, 700.0, -745.0, 1e16]


def outcome(V, nodes, step):
    """The new node, or the exception's type and message."""
    try:
        return apply(V, nodes, step)
    except Exception as exc:  # compared between the engines
        return (type(exc), str(exc))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_extreme_values_agree_including_errors(data):
    """Unguarded programs: each step either fails identically on both engines
    (type and message) or gives bitwise-equal values; then the gradients
    (IEEE: NaN and inf allowed, never an exception) agree bitwise too."""
    value = st.sampled_from(SPECIAL) | st.floats(allow_nan=True, allow_infinity=True)
    leaves = data.draw(st.lists(value, min_size=1, max_size=5))
    c_nodes, r_nodes = [C(x) for x in leaves], [Ref(x) for x in leaves]
    choose = Drawn(data)
    for _ in range(choose.index(20) + 1):
        op = choose.pick(OPS)
        arity = ARITY.get(op, 1) or 1 + 2 * (1 + choose.index(2))
        step = (op, tuple(choose.index(len(c_nodes)) for _ in range(arity)),
                data.draw(st.sampled_from(SPECIAL + POWK_EXPONENTS)))
        c_out, r_out = outcome(C, c_nodes, step), outcome(Ref, r_nodes, step)
        if isinstance(r_out, tuple):
            assert c_out == r_out, step
            continue
        assert bits(c_out.data) == bits(r_out.data), step
        c_nodes.append(c_out)
        r_nodes.append(r_out)
    c_nodes[-1].backward()
    r_nodes[-1].backward()
    assert [bits(v.grad) for v in c_nodes] == [bits(v.grad) for v in r_nodes]


# -- the boundary: random create / combine / drop / backward / set sequences ----


class Boundary(RuleBasedStateMachine):
    """Twin handles on both engines, driven by the same random calls; after
    every step each pair must agree bitwise, and when the machine stops and
    drops everything the C core must be back to its starting node count."""

    def __init__(self):
        super().__init__()
        from pygrad.cengine import stats
        self.stats = stats
        self.C, self.Ref = value_class("c"), value_class("python")
        self.c, self.r = [], []
        gc.collect()
        self.live_at_start = stats()["live"]

    @rule(x=st.sampled_from(SPECIAL) | st.floats(-3, 3))
    def create(self, x):
        self.c.append(self.C(x))
        self.r.append(self.Ref(x))

    @precondition(lambda self: self.c)
    @rule(data=st.data())
    def combine(self, data):
        choose = Drawn(data)
        op = choose.pick(OPS)
        arity = ARITY.get(op, 1) or 1 + 2 * (1 + choose.index(2))
        step = (op, tuple(choose.index(len(self.c)) for _ in range(arity)),
                data.draw(st.sampled_from(CONSTS + POWK_EXPONENTS)))
        c_out, r_out = outcome(self.C, self.c, step), outcome(self.Ref, self.r, step)
        if isinstance(r_out, tuple):
            assert c_out == r_out
        else:
            self.c.append(c_out)
            self.r.append(r_out)

    @precondition(lambda self: self.c)
    @rule(data=st.data())
    def drop(self, data):
        i = Drawn(data).index(len(self.c))
        del self.c[i], self.r[i]

    @precondition(lambda self: self.c)
    @rule(data=st.data())
    def backward(self, data):
        i = Drawn(data).index(len(self.c))
        self.c[i].backward()
        self.r[i].backward()

    @precondition(lambda self: self.c)
    @rule(data=st.data(), x=st.sampled_from(SPECIAL) | st.floats(-3, 3),
          field=st.sampled_from(["data", "grad", "value"]))
    def set_field(self, data, x, field):
        i = Drawn(data).index(len(self.c))
        setattr(self.c[i], field, x)
        setattr(self.r[i], field, x)

    @invariant()
    def twins_agree(self):
        for c, r in zip(self.c, self.r):
            assert (bits(c.data), bits(c.grad), c._op) == (bits(r.data), bits(r.grad), r._op)
            assert len(c._prev) == len(r._prev)

    def teardown(self):
        self.c.clear()
        self.r.clear()
        gc.collect()
        if sys.implementation.name != "pypy":   # PyPy finalizes earlier garbage at its own times
            assert self.stats()["live"] == self.live_at_start


TestBoundary = pytest.mark.slow(Boundary.TestCase)
TestBoundary.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# -- special values: NaN, inf, zeros; the NaNs must agree to the bit ----------

SPECIAL = [math.nan, -math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e308, 5e-324, 700.0]


def special_outcome(V, op, xs):
    """The bits of the op's value and of its operands' grads, or the exception type."""
    leaves = [V(x) for x in xs]
    try:
        out = op(*leaves)
    except (ArithmeticError, ValueError) as exc:
        return type(exc)
    out.backward()
    return [bits(out.data)] + [bits(v.grad) for v in leaves]


@pytest.mark.parametrize("name", sorted(APPLY))
def test_special_values_agree_to_the_bit(name):
    """Every op on every pair of special values: the same value and the same
    gradients on both engines, compared as bits, NaNs included."""
    C, Ref = value_class("c"), value_class("python")
    arity = ARITY.get(name, 1)
    arity = 3 if arity is None else arity            # sum of 3, dot of one weight and input plus bias
    wrong = []
    for xs in itertools.product(SPECIAL, repeat=min(arity, 2)):
        for k in (CONSTS[:2] if name in WITH_CONST else [None]):
            xs3 = xs + (0.5,) * (arity - len(xs))

            def op(*vs, name=name, k=k):
                return apply(vs[0].__class__, list(vs), (name, tuple(range(len(vs))), k))
            c, r = special_outcome(C, op, xs3), special_outcome(Ref, op, xs3)
            if c != r:
                wrong.append(f"{name}{xs3} k={k}: c {c}, python {r}")
    assert not wrong, "\n".join(wrong[:20])
