"""A representative workload for scripts/valgrind.sh: every op, errors,
fused nodes, compiled programs and optimizers, graphs built and dropped."""
import random

import pygrad
from pygrad.nn import MLP

V = pygrad.use_engine("c")
random.seed(0)


def every_op(x, y):
    out = [x + y, x - y, x * y, x / y, x ** 2, x ** y, 2 ** x, -x, x.relu(),
           x.tanh(), x.exp(), x.log(), x.sigmoid(), pygrad.sum([x, y, x]), pygrad.dot([x, y], [y, x], 1.0)]
    return pygrad.sum(out)


for _ in range(50):
    x, y = V(random.uniform(0.5, 2)), V(random.uniform(0.5, 2))
    every_op(x, y).backward()
    for bad in (lambda x=x: x / 0, lambda: V(-1.0).log(), lambda: V(1e3).exp(), lambda: V(0.0) ** -1):
        try:
            bad()
        except (ZeroDivisionError, ValueError, OverflowError):
            pass

model = MLP(2, [8, 8, 1])
for _ in range(3):
    loss = pygrad.sum([(1 - model([random.random(), random.random()])).relu() for _ in range(10)])
    model.zero_grad()
    loss.backward()

try:
    import numpy as np
except ImportError:
    np = None
if np is not None:
    xs = [V(0.0), V(0.0)]
    step = pygrad.compile((1 - model(xs)).relu(), inputs=xs, params=model.parameters())
    opt = pygrad.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        step.accumulate(np.random.rand(20, 2))
        opt.step()
        opt.zero_grad()
    del step

# compile_fn: fused sums of products, select, max_data, a failing row, strict
table = [[V(0.1 * (r + c)) for c in range(3)] for r in range(4)]
params = [p for row in table for p in row]


def token_loss(ids):
    rows = [pygrad.select(i, table) for i in ids]
    logits = [sum(a * b for a, b in zip(rows[0], row)) for row in rows]
    m = pygrad.max_data(logits)
    return sum((v - m).exp() for v in logits).log()


f = pygrad.compile_fn(token_loss, params=params, maxsize=2)
for ids in ([0, 1], [2, 3, 1], [1, 1], [3, 0, 2, 1], [0, 1]):
    f.accumulate(ids, scale=0.5)
try:
    f.accumulate([0, 9])
except IndexError:
    pass
try:
    pygrad.compile_fn(lambda t: t * table[0][0], params=[], strict=True)(1.0)
except ValueError:
    pass
del f

chain = V(1.0)
for _ in range(10000):
    chain = chain * 1.0001 + 0.5
chain.backward()
del chain, loss, model
print("live nodes at the end:", pygrad.cengine.stats()["live"])
