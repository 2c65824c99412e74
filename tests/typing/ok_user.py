"""A typed user program: mypy must accept it (tests/test_typing.py)."""
from typing import List

import pygrad
from pygrad import Value, nn, optim
from pygrad.engine import Value as MicrogradValue


def mse(preds: List[Value], ys: List[float]) -> Value:
    return pygrad.sum((p - y) ** 2 for p, y in zip(preds, ys)) / len(ys)


a = Value(2.0, label="a")
b: Value = a * 3 + 1.5
c = (2 ** b).tanh() - a.relu() / 4 + (-a).exp().log() + abs(a) + a.sigmoid()
d = MicrogradValue(1) + c
d.backward()
x: float = a.data + a.grad + float(d) + d.item()
a.data = 3
a.grad = 0.0
a.label = "renamed"
text: str = f"{d:.3f}" + d._op + a.label
biggest: Value = max([a, b, c])
ordered: bool = a < b and b >= 2.0
children = d._prev
node = pygrad.dot([a, b], [c, 1.0], 0.5)

model = nn.MLP(2, [4, 1])
out = model([1.0, -1.0])
opt = optim.SGD(model.parameters(), lr=0.1)
opt.zero_grad()
opt.step()
for p in model.parameters():
    p.data -= 0.1 * p.grad
adam = optim.Adam(model.parameters(), lr=0.01)
names = [name for name, _ in model.named_parameters()]
program = pygrad.compile(node, inputs=[], params=[a, b])
opt.lr = 0.05
adam = optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
state = model.state_dict()
model.load_state_dict({k: v * 0.5 for k, v in state.items()})
named: List[str] = [name for name, _ in model.named_parameters()]


@pygrad.no_grad
def evaluate(v: Value) -> Value:
    return v * 2


@pygrad.no_grad()
def evaluate_too(v: Value) -> float:
    return (v * 2).data


with pygrad.no_grad():
    y: Value = evaluate(a) + evaluate_too(a)
