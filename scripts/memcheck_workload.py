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

chain = V(1.0)
for _ in range(10000):
    chain = chain * 1.0001 + 0.5
chain.backward()
del chain, loss, model
print("live nodes at the end:", pygrad.cengine.stats()["live"])
