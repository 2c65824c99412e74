"""Differential fuzzer: compiled programs against eager, bit for bit.

A trial draws a random model (a recipe of ops over inputs, params and
constants: see GENERATORS), compiles it with `pygrad.compile` or
`pygrad.compile_fn`, and runs a random sequence of actions (see ACTIONS):
forward_batch, accumulate, run_row, calls, optimizer steps, edits of
params and constants, copies. Every compiled result is compared with eager
(the graph rebuilt per row from the same Values, `(scale * root).backward()`)
by repr: outputs, every param's grad, or the error type when a row fails
(the program must then leave every grad as it was). Both engines run it.

Adding a shape of program is one generator function (rng, V) -> Model,
listed in GENERATORS; adding an action is one function (trial, rng) -> str
(what it did, for the log), listed in ACTIONS; a new op of the recipes is
one op_ function (in OPS) and its row of NODE_ARGS.

A failure names its seed and engine; `PYGRAD_FUZZ_SEED=<seed> python -m
pytest tests/test_fuzz_compiled.py -k one_seed` replays it, printing the
model's recipe and the actions.
"""
import copy
import os
import pickle
import random
import re
import warnings

import pytest

import pygrad
from pygrad import nn

np = pytest.importorskip("numpy")

ERRORS = (ValueError, ZeroDivisionError, OverflowError, IndexError)
ROW = re.compile(r"row (\d+):")


def failure(e, row=None):
    """An error as an outcome: its type's name and its row (a compiled
    run's error names it; None if it does not)."""
    named = ROW.match(str(e))
    return (type(e).__name__, row if row is not None else int(named.group(1)) if named else None)


# ---------------------------------------------------------------------------
# models: a recipe of ops, interpreted the same way at trace time and eagerly


def op_binary(m, nodes, name, i, j):
    method = "truediv" if name == "div" else name
    return [getattr(nodes[i], f"__{method}__")(nodes[j])]


def op_constant(m, nodes, name, i, k, reflected):
    """x op k or k op x, k a plain number (powk when name is pow and not reflected)."""
    a = nodes[i]
    method = name if name != "div" else "truediv"
    return [getattr(a, f"__r{method}__" if reflected else f"__{method}__")(k)]


def op_unary(m, nodes, name, i):
    a = nodes[i]
    return [{"neg": lambda: -a, "abs": lambda: abs(a)}.get(name, lambda: getattr(a, name)())()]


def op_sum(m, nodes, idx):
    return [m.V.sum([nodes[i] for i in idx])]


def op_pysum(m, nodes, idx):
    """Python's sum(): 0 + x0 + x1 + ..., a chain of adds."""
    return [sum(nodes[i] for i in idx)]


def op_pysum_products(m, nodes, pairs, start):
    """sum(w * x ...) (start None: from 0), micrograd's Neuron when start is its bias."""
    terms = (nodes[i] * nodes[j] for i, j in pairs)
    return [sum(terms) if start is None else sum(terms, nodes[start])]


def op_vsum_products(m, nodes, pairs):
    return [m.V.sum([nodes[i] * nodes[j] for i, j in pairs])]


def op_dot(m, nodes, ws, xs, b):
    return [m.V.dot([nodes[i] for i in ws], [nodes[i] for i in xs], nodes[b])]


def op_dense(m, nodes, rows, biases, xs, relu):
    """Value.dense, as nn.Layer calls it."""
    layer = m.V.dense([[nodes[i] for i in r] for r in rows], [nodes[i] for i in biases])
    return layer([nodes[i] for i in xs], relu)


def op_neurons(m, nodes, rows, biases, xs, relu):
    """micrograd's Layer: one Neuron per row, relu(sum((w * x ...), b))."""
    outs = [sum((nodes[w] * nodes[x] for w, x in zip(r, xs)), nodes[b]) for r, b in zip(rows, biases)]
    return [o.relu() for o in outs] if relu else outs


def op_select(m, nodes, index, idx):
    return [pygrad.select(nodes[index], [nodes[i] for i in idx])]


def op_max_data(m, nodes, idx):
    return [pygrad.max_data([nodes[i] for i in idx])]


CMP = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def op_branch(m, nodes, cmp, i, j, k, then_i, else_i):
    """A Python decision on Values (a guard in a compiled function): i cmp j, or i cmp k."""
    # The branch not taken is added times 0, so that each node eager computes
    # flows into the result (a program computes no dead node, nor its errors).
    if CMP[cmp](nodes[i], nodes[j] if j is not None else k):
        return [nodes[then_i] * 1.5 + nodes[else_i] * 0.0]
    return [nodes[else_i] - 0.25 + nodes[then_i] * 0.0]


def op_pymax(m, nodes, idx, use_min):
    """Python's max or min over Values: comparisons, so guards."""
    return [(min if use_min else max)(nodes[i] for i in idx) + 0.0]


def op_filter(m, nodes, idx):
    """A filter on the sign of Values: the sum's length follows the data."""
    return [sum((nodes[i] for i in idx if nodes[i] > 0), nodes[idx[0]] * 0.0)]


def op_sorted(m, nodes, idx):
    s = sorted(nodes[i] for i in idx)
    return [s[0] - s[-1] * 2.0]


def op_custom(m, nodes, form, idx):
    """A user's op in microgpt's form, Value(data, children, local_grads),
    with Values as local gradients (compile_fn only: compile refuses it)."""
    V, kids = m.V, [nodes[i] for i in idx]
    with warnings.catch_warnings():   # .data read on purpose: it compiles through + - * / **
        warnings.simplefilter("ignore", pygrad.TracerWarning)
        if form == "tanh":        # data and local gradient Values
            t = kids[0].tanh()
            return [V(t, (kids[0],), (1 - t * t,))]
        if form == "squares":     # data from .data arithmetic
            data = 0.5
            for k in kids:
                data = data + k.data * k.data
            return [V(data, tuple(kids), [2 * k for k in kids])]
        if form == "product":     # each child's local gradient: the others' product
            data = kids[0].data
            for k in kids[1:]:
                data = data * k.data
            grads = [V(1.0) * 1.0 for _ in kids]
            for i in range(len(kids)):
                for j, k in enumerate(kids):
                    if j != i:
                        grads[i] = grads[i] * k
            return [V(data, kids, grads)]
    raise ValueError(form)


def op_net(m, nodes, k, xs):
    out = m.nets[k]([nodes[i] for i in xs])
    return out if isinstance(out, list) else [out]


OPS = {f.__name__[3:]: f for f in (op_binary, op_constant, op_unary, op_sum, op_pysum, op_pysum_products,
                                    op_vsum_products, op_dot, op_dense, op_neurons, op_select, op_max_data,
                                    op_net, op_branch, op_pymax, op_filter, op_sorted, op_custom)}


class Model:
    """inputs x (ninputs, the first nindex of them integers < nselect),
    params, constants (leaves read at each run), nets (nn.MLPs), a table
    that token inputs select from; the root is the recipe's last node, plus
    select(t, table).tanh() for each token t. Picklable (compile_fn's fn)."""

    def __init__(self, V, ninputs, nindex, nselect, params, consts, recipe, nets=(), ntable=3):
        self.V, self.ninputs, self.nindex, self.nselect = V, ninputs, nindex, nselect
        self.params, self.consts, self.recipe, self.nets = params, consts, recipe, list(nets)
        self.table = [V(0.5 * i - 0.7) for i in range(ntable)]

    def parameters(self):
        return self.params + self.table + [p for net in self.nets for p in net.parameters()]

    def __call__(self, xs, toks=()):
        nodes = list(xs) + self.params + self.consts
        for name, *args in self.recipe:
            nodes.extend(OPS[name](self, nodes, *args))
        root = nodes[-1]
        for t in toks:
            root = root + pygrad.select(t, self.table).tanh()
        return root

    def errors_on(self, xs):
        """Every error type the recipe's ops raise on inputs xs, each failing
        op taken as 1.0 from there on: eager raises the first op's, a
        program (another order of the same ops) may raise another's."""
        nodes, found = list(xs) + self.params + self.consts, set()
        for name, *args in self.recipe:
            try:
                nodes.extend(OPS[name](self, nodes, *args))
            except ERRORS as e:
                found.add(type(e).__name__)
                nodes.append(self.V(1.0))   # (the ops that can fail have one output)
        return found

    def __repr__(self):
        return (f"Model(ninputs={self.ninputs}, nindex={self.nindex}, nselect={self.nselect}, "
                f"params={[p.data for p in self.params]}, consts={[c.data for c in self.consts]}, "
                f"nets={self.nets}, recipe={self.recipe})")


class Recipe:
    """Helpers for generators: a growing list of node indices and ops."""

    def __init__(self, rng, ninputs, nparams, nconsts, nindex=0, nselect=3):
        self.rng, self.ninputs, self.nindex, self.nselect = rng, ninputs, nindex, nselect
        self.nparams, self.nconsts = nparams, nconsts
        self.ops, self.count = [], ninputs + nparams + nconsts

    def add(self, name, *args, nout=1):
        self.ops.append((name, *args))
        self.count += nout
        return list(range(self.count - nout, self.count))

    def leaves(self, kind):
        start = {"x": 0, "p": self.ninputs, "c": self.ninputs + self.nparams}[kind]
        n = {"x": self.ninputs, "p": self.nparams, "c": self.nconsts}[kind]
        return list(range(start, start + n))

    def pick(self, k=None, recent=True):
        """A node index (k of them, distinct, if k), leaning to recent nodes."""
        if k is not None:
            return self.rng.sample(range(self.count), min(k, self.count))
        lo = max(0, self.count - 6) if recent and self.rng.random() < 0.6 else 0
        return self.rng.randrange(lo, self.count)

    def positive(self, i):
        """abs(i) + a small constant: in log's and a base's domain, nonzero."""
        return self.add("constant", "add", self.add("unary", "abs", i)[0], self.rng.choice([0.25, 1.0]), False)[0]

    def model(self, V, params, consts, nets=()):
        """The Model, its root a sum of every op node nothing else reads, so
        that eager builds no node the program leaves out (its errors too)."""
        first = self.ninputs + self.nparams + self.nconsts
        read = {i for name, *args in self.ops for i in node_args(name, args)}
        sinks = [i for i in range(first, self.count) if i not in read]
        if sinks != [self.count - 1]:
            self.add("sum", sinks or [self.pick()])
        return Model(V, self.ninputs, self.nindex, self.nselect, params, consts, self.ops, nets)


# which of each op's arguments name nodes (ints, or lists of them, nested)
NODE_ARGS = {"binary": (1, 2), "constant": (1,), "unary": (1,), "sum": (0,), "pysum": (0,),
             "pysum_products": (0, 1), "vsum_products": (0,), "dot": (0, 1, 2), "dense": (0, 1, 2),
             "neurons": (0, 1, 2), "select": (0, 1), "max_data": (0,), "net": (1,),
             "branch": (1, 2, 4, 5), "pymax": (0,), "filter": (0,), "sorted": (0,), "custom": (1,)}


def node_args(name, args):
    def walk(a):
        if isinstance(a, (list, tuple)):
            for item in a:
                yield from walk(item)
        elif a is not None:
            yield a
    for k in NODE_ARGS[name]:
        yield from walk(args[k])


def leaves(rng, V, n):
    return [V(round(rng.uniform(-1.5, 1.5), 3)) for _ in range(n)]


def random_op(r):
    """One random op of any kind over r's nodes; mostly inside the ops' domains."""
    rng = r.rng
    kind = rng.choice(["binary", "binary", "constant", "unary", "unary", "sum", "pysum", "products",
                       "dot", "select", "max_data"])
    if kind == "binary":
        name = rng.choice(["add", "mul", "sub", "div", "pow"])
        a, b = r.pick(), r.pick()
        if name in ("div", "pow") and rng.random() < 0.85:
            b = r.positive(b) if name == "div" else r.add("unary", "tanh", b)[0]
            a = r.positive(a) if name == "pow" else a
        return r.add("binary", name, a, b)
    if kind == "constant":
        name = rng.choice(["add", "mul", "sub", "div", "pow"])
        k = rng.choice([2, 3, -1, 0.5, -0.5, 2.5, 0, -2, 1.5]) if name == "pow" else rng.choice([2.0, -0.5, 3, 1e-3])
        a = r.pick()
        if name == "pow" and rng.random() < 0.7 and (k != int(k) or k < 0):
            a = r.positive(a)
        return r.add("constant", name, a, k, name != "pow" and rng.random() < 0.4)
    if kind == "unary":
        name = rng.choice(["neg", "relu", "tanh", "exp", "log", "sigmoid", "abs"])
        a = r.pick()
        if name == "log" and rng.random() < 0.85:
            a = r.positive(a)
        if name == "exp":   # mostly in range; sometimes exp(400 x), which overflows for x > 1.78
            a = r.add("unary", "tanh", a)[0] if rng.random() < 0.8 else r.add("constant", "mul", a, 400.0, False)[0]
        return r.add("unary", name, a)
    if kind == "sum":
        return r.add("sum", r.pick(rng.randint(1, 5)))
    if kind == "pysum":
        return r.add("pysum", r.pick(rng.randint(1, 5)))
    if kind == "products":
        pairs = [(r.pick(), r.pick()) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.5:
            return r.add("vsum_products", pairs)
        return r.add("pysum_products", pairs, rng.choice([None, r.pick()]))
    if kind == "dot":
        xs = r.pick(rng.randint(1, 5))
        return r.add("dot", [r.pick() for _ in xs], xs, r.pick())
    if kind == "select" and r.nindex:
        return r.add("select", rng.randrange(r.nindex), [r.pick() for _ in range(r.nselect)])
    return r.add("max_data", [r.pick() for _ in range(rng.randint(1, 4))])


# ---------------------------------------------------------------------------
# generators: (rng, V) -> Model; one per shape of program


def gen_random_dag(rng, V):
    """Any op over any nodes."""
    nindex = rng.choice([0, 1])
    r = Recipe(rng, rng.randint(1 + nindex, 4), rng.randint(1, 4), rng.randint(0, 2), nindex, rng.randint(2, 4))
    for _ in range(rng.randint(1, 16)):
        random_op(r)
    if rng.random() < 0.5:   # more of the graph reachable from the root
        r.add("sum", r.pick(rng.randint(2, 4)))
    return r.model(V, leaves(rng, V, r.nparams), leaves(rng, V, r.nconsts))


def layer_stack(r, xs, op_name, relu_last):
    """Dense layers over xs (Value.dense or micrograd's Neurons), weights and
    biases params or constants; returns the last layer's outputs."""
    rng = r.rng
    pool = r.leaves("p") + r.leaves("c")
    for depth in range(rng.randint(1, 3)):
        nout = rng.randint(1, 9)
        rows = [[rng.choice(pool) for _ in xs] for _ in range(nout)]
        biases = [rng.choice(pool) for _ in range(nout)]
        relu = rng.random() < 0.7 if depth or relu_last else False
        xs = r.add(op_name, rows, biases, xs, relu, nout=nout)
    return xs


def gen_dense_net(rng, V):
    """Layers as Value.dense (nn.Layer) or micrograd's Layer builds them, then a loss."""
    nin = rng.randint(1, 9)
    r = Recipe(rng, nin + 1, rng.randint(3, 12), rng.randint(0, 3))
    x, y = r.leaves("x")[:nin], r.leaves("x")[nin]
    if rng.random() < 0.3:   # inputs that are op slots, not leaves
        x = [r.add("unary", "tanh", i)[0] for i in x]
    if rng.random() < 0.3:   # a param or constant among the inputs
        x = x + [rng.choice(r.leaves("p") + r.leaves("c"))]
    out = layer_stack(r, x, rng.choice(["dense", "neurons"]), rng.random() < 0.5)
    head = r.add("dot", [rng.choice(r.leaves("p")) for _ in out], out, rng.choice(r.leaves("p")))[0]
    loss = rng.choice(["square", "hinge", "plain"])
    if loss == "square":
        d = r.add("binary", "sub", head, y)[0]
        r.add("constant", "pow", d, 2, False)
    elif loss == "hinge":
        m = r.add("binary", "mul", y, head)[0]
        r.add("unary", "relu", r.add("constant", "sub", m, 1, True)[0])
    return r.model(V, leaves(rng, V, r.nparams), leaves(rng, V, r.nconsts))


def gen_nn_mlp(rng, V):
    """pygrad.nn.MLP (its layers through Value.dense), its params set from rng."""
    nin = rng.randint(1, 6)
    # hidden widths >= 2: a width-1 layer gives one Value, not a list, as in micrograd
    net = nn.MLP(nin, [rng.randint(2, 8) for _ in range(rng.randint(0, 2))] + [1])
    for p in net.parameters():
        p.data = round(rng.uniform(-1, 1), 3)
    r = Recipe(rng, nin, 0, 0)
    out = r.add("net", 0, r.leaves("x"))[0]
    if rng.random() < 0.5:
        r.add("unary", rng.choice(["tanh", "relu", "sigmoid"]), out)
    return r.model(V, [], [], nets=[net])


def gen_sum_chains(rng, V):
    """Sums of products (fused chains), L2 penalties, shared products."""
    r = Recipe(rng, rng.randint(1, 5), rng.randint(2, 8), rng.randint(0, 2))
    terms = []
    for _ in range(rng.randint(1, 4)):
        ps, xs = r.leaves("p") + r.leaves("c"), r.leaves("x") + terms
        pairs = [(rng.choice(ps), rng.choice(xs)) for _ in range(rng.randint(1, 6))]
        how = rng.choice(["py", "py_start", "vsum", "l2"])
        if how == "l2":
            terms += r.add("vsum_products", [(p, p) for p in r.leaves("p")])
        elif how == "vsum":
            terms += r.add("vsum_products", pairs)
        else:
            terms += r.add("pysum_products", pairs, rng.choice(ps) if how == "py_start" else None)
        if rng.random() < 0.4:
            terms += r.add("unary", rng.choice(["tanh", "relu"]), terms[-1])
    r.add("pysum", terms)
    return r.model(V, leaves(rng, V, r.nparams), leaves(rng, V, r.nconsts))


def gen_branchy(rng, V):
    """Python decisions on Values among any ops (compile_fn only: guards)."""
    nindex = rng.choice([0, 1])
    r = Recipe(rng, rng.randint(1 + nindex, 4), rng.randint(1, 4), rng.randint(0, 2), nindex, rng.randint(2, 4))
    for _ in range(rng.randint(1, 12)):
        kind = rng.random()
        if kind < 0.3:
            j = r.pick() if rng.random() < 0.6 else None
            r.add("branch", rng.choice(list(CMP)), r.pick(), j, rng.choice([0.0, 0.5, -1.0]), r.pick(), r.pick())
        elif kind < 0.4:
            r.add("pymax", r.pick(rng.randint(1, 4)), rng.random() < 0.5)
        elif kind < 0.5:
            r.add("filter", r.pick(rng.randint(1, 5)))
        elif kind < 0.55:
            r.add("sorted", r.pick(rng.randint(1, 4)))
        elif kind < 0.65:
            random_custom(r)
        else:
            random_op(r)
    r.add("binary", "mul", r.pick(), rng.choice(r.leaves("x")))   # a result that depends on an input
    m = r.model(V, leaves(rng, V, r.nparams), leaves(rng, V, r.nconsts))
    m.needs_fn = True
    return m


def random_custom(r):
    form = r.rng.choice(["tanh", "squares", "product"])
    return r.add("custom", form, [r.pick()] if form == "tanh" else r.pick(r.rng.randint(1, 3)))


def gen_custom(rng, V):
    """Users' ops (microgpt's form, Values as local gradients) among any ops
    (compile_fn only)."""
    r = Recipe(rng, rng.randint(1, 4), rng.randint(1, 4), rng.randint(0, 2))
    for _ in range(rng.randint(1, 12)):
        random_custom(r) if rng.random() < 0.4 else random_op(r)
    r.add("binary", "mul", r.pick(), rng.choice(r.leaves("x")))   # a result that depends on an input
    m = r.model(V, leaves(rng, V, r.nparams), leaves(rng, V, r.nconsts))
    m.needs_fn = True
    return m


GENERATORS = [gen_random_dag, gen_random_dag, gen_dense_net, gen_nn_mlp, gen_sum_chains,
              gen_branchy, gen_branchy, gen_custom]   # (weights: a list)


# ---------------------------------------------------------------------------
# a trial: one model, compiled one way, and the eager truth


def bits(xs):
    return [repr(float(x)) for x in xs]


class Trial:
    """One random model on engine V, compiled by compile_fn (token counts
    vary per call) or by compile (ntok tokens); log: the actions so far;
    results: every compiled outcome checked (outputs or error, grads)."""

    def __init__(self, rng, V):
        self.V = V
        self.model = rng.choice(GENERATORS)(rng, V)
        self.by_fn = getattr(self.model, "needs_fn", False) or rng.random() < 0.4
        self.ntok = rng.choice([0, 0, 1, 2])
        self.log, self.results = [], []
        self.cf = self.prog = None
        if self.by_fn:
            maxsize = rng.choice([1, 2, 64])   # small: token counts evict programs, traced again later
            self.cf = pygrad.compile_fn(self.model, params=self.model.parameters(), maxsize=maxsize,
                                        max_variants=10_000)   # (test_guards checks the bound)
        for _ in range(20 if not self.by_fn else 0):   # placeholders' values where the graph can be built
            xs, toks = self.placeholders(self.row(rng), self.ntok)
            try:
                self.prog = pygrad.compile(self.model(xs, toks), inputs=xs + toks, params=self.model.parameters())
                break
            except ERRORS:
                continue
        self.new_optimizers(rng)

    def new_optimizers(self, rng):
        ps = self.model.parameters()
        self.opts = [pygrad.optim.SGD(ps, lr=rng.choice([0.1, 0.01]), momentum=rng.choice([0.0, 0.9])),
                     pygrad.optim.Adam(ps, lr=0.05)]

    def pick_ntok(self, rng):
        return rng.choice([0, 1, 2, 3]) if self.by_fn else self.ntok

    def row(self, rng, ntok=None):
        """One row: inputs (index inputs integers), then ntok tokens; rarely a bad index."""
        m = self.model
        ntok = self.ntok if ntok is None else ntok
        row = [float(rng.randrange(m.nselect)) for _ in range(m.nindex)]
        for _ in range(m.ninputs - m.nindex):
            row.append(rng.choice([0.0, -0.0, 1.0, -1.5]) if rng.random() < 0.1 else round(rng.uniform(-2, 2), 4))
        row += [float(rng.randrange(len(m.table))) for _ in range(ntok)]
        if m.nindex and rng.random() < 0.02:
            row[0] = rng.choice([float(m.nselect), 0.5])
        return row

    def placeholders(self, row, ntok):
        vals = [self.V(v) for v in row]
        n = len(row) - ntok
        return vals[:n], vals[n:]

    def program(self, row, ntok):
        """The Program for rows like row (ntok tokens): compile_fn traces it
        with row's values (so a row that fails eagerly fails to trace)."""
        return self.cf.program(*self.args(row, ntok)) if self.by_fn else self.prog

    def args(self, row, ntok):
        n = len(row) - ntok
        return row[:n], row[n:]

    def grads(self):
        return [p.grad for p in self.model.parameters()]

    def set_grads(self, gs):
        for p, g in zip(self.model.parameters(), gs):
            p.grad = g

    def eager(self, rows, ntok, backward, scale):
        """Outputs of eager graphs row by row (and their scaled backward), or
        the first failing row's failure (the grads then left as before)."""
        before = self.grads()
        outs = []
        for r, row in enumerate(rows):
            try:
                root = self.model(*self.placeholders(row, ntok))
            except ERRORS as e:
                self.set_grads(before)
                return failure(e, r)
            outs.append(root.data)
            if backward:
                (scale * root).backward()
        return bits(outs)

    def same_failure(self, got, want, rows, ntok):
        """Compiled failed as eager did: at the same row (if it names one),
        with eager's error or one another op of that row raises."""
        (name, row), (want_name, want_row) = got, want
        if row not in (None, want_row):
            return False
        xs, _ = self.placeholders(rows[want_row], ntok)
        return name == want_name or name in self.model.errors_on(xs)

    def check(self, run, rows, ntok, backward, scale, what):
        """run() the compiled way; compare outputs and grads with eager."""
        before = self.grads()
        try:
            out = run()
            got = bits(out) if isinstance(out, np.ndarray) else bits([out])
        except ERRORS as e:
            got = failure(e)
        got_grads = bits(self.grads())
        self.results.append((what, got, got_grads))
        if isinstance(got, tuple):
            assert got_grads == bits(before), f"{what}: a failed run changed grads"
        self.set_grads(before)
        want = self.eager(rows, ntok, backward, scale)
        if isinstance(got, tuple) and isinstance(want, tuple):
            assert self.same_failure(got, want, rows, ntok), f"{what}: compiled failed {got}, eager {want}"
        else:
            assert got == want, f"{what}: compiled {got} != eager {want}"
        assert got_grads == bits(self.grads()), f"{what}: grads differ from eager"
        return got


# ---------------------------------------------------------------------------
# actions: (trial, rng) -> what was done (for the log); one per way of using a program


def random_nrows(rng):
    """1-3 rows (one by one), 4-7 (a tail block), 8-16 and 17-40 (blocks and tails), alike often."""
    return rng.choice([rng.randint(1, 3), rng.randint(4, 7), rng.randint(8, 16), rng.randint(17, 40)])


def random_scale(rng, nrows):
    return rng.choice([1.0, -0.5, 1 / nrows, 3.0, round(rng.uniform(-2, 2), 3)])


def act_forward_batch(t, rng):
    ntok, nrows = t.pick_ntok(rng), random_nrows(rng)
    rows = [t.row(rng, ntok) for _ in range(nrows)]
    got = t.check(lambda: t.program(rows[0], ntok).forward_batch(np.array(rows)), rows, ntok, False, 1.0,
                  "forward_batch")
    return f"forward_batch({nrows} rows, {ntok} tokens) -> {got[0] if isinstance(got, tuple) else 'ok'}"


def act_accumulate(t, rng):
    ntok, nrows = t.pick_ntok(rng), random_nrows(rng)
    rows = [t.row(rng, ntok) for _ in range(nrows)]
    scale = random_scale(rng, nrows)
    got = t.check(lambda: t.program(rows[0], ntok).accumulate(np.array(rows), scale=scale), rows, ntok, True, scale,
                  "accumulate")
    return f"accumulate({nrows} rows, {ntok} tokens, scale={scale!r}) -> {got[0] if isinstance(got, tuple) else 'ok'}"


def act_run_row(t, rng):
    ntok = t.pick_ntok(rng)
    row, backward, scale = t.row(rng, ntok), rng.random() < 0.5, random_scale(rng, 1)
    t.check(lambda: t.program(row, ntok).run_row(row, backward=backward, scale=scale), [row], ntok, backward, scale,
            "run_row")
    return f"run_row({row}, backward={backward}, scale={scale!r})"


def act_call(t, rng):
    """Program(*row), or the compile_fn object called / accumulated."""
    ntok = t.pick_ntok(rng)
    row = t.row(rng, ntok)
    if not t.by_fn:
        t.check(lambda: t.program(row, ntok)(*row), [row], ntok, False, 1.0, "Program()")
        return f"Program({row})"
    backward, scale = rng.random() < 0.5, random_scale(rng, 1)
    xs, toks = t.args(row, ntok)
    run = (lambda: t.cf.accumulate(xs, toks, scale=scale)) if backward else (lambda: t.cf(xs, toks))
    t.check(run, [row], ntok, backward, scale, "compile_fn call")
    return f"compile_fn {'accumulate' if backward else 'call'}({xs}, {toks}, scale={scale!r})"


def act_optimizer_step(t, rng):
    opt = rng.choice(t.opts)
    opt.step()
    if rng.random() < 0.7:
        opt.zero_grad()
    return f"{type(opt).__name__} step"


def act_edit_param(t, rng):
    ps = t.model.parameters()
    p = rng.choice(ps)
    p.data = round(rng.uniform(-2, 2), 3)
    return f"param {ps.index(p)} = {p.data!r}"


def act_edit_constant(t, rng):
    if not t.model.consts:
        return "no constant to edit"
    i = rng.randrange(len(t.model.consts))
    t.model.consts[i].data = round(rng.uniform(-2, 2), 3)
    return f"constant {i} = {t.model.consts[i].data!r}"


def act_set_grads(t, rng):
    t.set_grads([round(rng.uniform(-1, 1), 3) if rng.random() < 0.5 else 0.0 for _ in t.grads()])
    return "grads set"


def act_copy(t, rng):
    """compile_fn objects copy (deepcopy, pickle) as fn and params: the copy
    is a model of its own, and runs on. A Program refuses to."""
    how = rng.choice(["deepcopy", "pickle"])
    if not t.by_fn:
        with pytest.raises(TypeError):
            copy.deepcopy(t.prog) if how == "deepcopy" else pickle.dumps(t.prog)
        return f"{how} of a Program refused"
    cf = copy.deepcopy(t.cf) if how == "deepcopy" else pickle.loads(pickle.dumps(t.cf))
    ps = cf.fn.parameters()
    assert cf.fn is not t.model and len(cf.params) == len(ps) and all(a is b for a, b in zip(cf.params, ps))
    t.cf, t.model = cf, cf.fn
    t.new_optimizers(rng)
    return f"{how} of the compile_fn object"


def act_cache_clear(t, rng):
    """compile_fn's programs dropped: the next call traces again."""
    if not t.by_fn:
        return "no cache to clear"
    t.cf.cache_clear()
    return "cache_clear"


ACTIONS = [act_forward_batch, act_forward_batch, act_accumulate, act_accumulate, act_accumulate, act_run_row,
           act_call, act_optimizer_step, act_optimizer_step, act_edit_param, act_edit_constant, act_set_grads,
           act_copy, act_cache_clear]


def run_trial(V, seed, nactions=12):
    rng = random.Random(seed)
    t = Trial(rng, V)
    if not t.by_fn and t.prog is None:
        return t   # no row found where the graph can be built
    try:
        for _ in range(nactions):
            t.log.append(rng.choice(ACTIONS)(t, rng))
    except AssertionError as e:
        raise AssertionError(f"seed {seed} on engine {pygrad.get_engine()!r}: {e}\n"
                             f"model: {t.model!r}\ncompiled with {'compile_fn' if t.by_fn else 'compile'}\n"
                             "actions before the failing one:\n  " + "\n  ".join(t.log) +
                             f"\nreplay: PYGRAD_FUZZ_SEED={seed} python -m pytest "
                             "tests/test_fuzz_compiled.py -k one_seed") from None
    return t


def run_seeds(V, seeds):
    for seed in seeds:
        run_trial(V, seed)


# The default run's budget: the C engine's programs (lanes, tail blocks,
# fused chains, layer kernels) have the most paths, and its trials cost a
# third of the reference engine's.
SEEDS = {"c": range(200), "python": range(60)}


def test_fuzz_compiled_equals_eager(engine):
    run_seeds(engine, SEEDS[pygrad.get_engine()])


def test_fuzz_engines_agree(run_on):
    """The same trials on the C engine and the reference engine: the same
    compiled outcomes, check by check (each engine is also checked against
    its own eager graphs above)."""
    for seed in range(20):
        c, py = (run_on(name, lambda s: run_trial(pygrad.Value, s), seed) for name in ("c", "python"))
        assert c.log == py.log, f"seed {seed}: the trials went different ways"
        for (what, *c_got), (_, *py_got) in zip(c.results, py.results):
            assert c_got == py_got, f"seed {seed}: {what} differs between the engines"


@pytest.mark.slow
def test_fuzz_compiled_equals_eager_long(engine):
    run_seeds(engine, range(1000, 3000))


@pytest.mark.skipif("PYGRAD_FUZZ_SEED" not in os.environ, reason="set PYGRAD_FUZZ_SEED to replay one trial")
def test_one_seed(engine):
    run_trial(engine, int(os.environ["PYGRAD_FUZZ_SEED"]))
