"""Every import path that README.md and docs/ show, used as a user would:
mypy --strict and pyright (strict) must accept this file as it is
(tests/test_typing_strict.py)."""
from typing import List

import pygrad
import pygrad.engine
import pygrad.nn
import pygrad.optim
from pygrad import (
    ENGINES,
    CompiledFunction,
    GradcheckError,
    ML_Framework,
    Program,
    TracerError,
    TracerWarning,
    Value,
    compile,
    compile_fn,
    dot,
    draw,
    get_engine,
    grad,
    gradcheck,
    hessian,
    hvp,
    is_grad_enabled,
    jvp,
    max_data,
    nn,
    no_grad,
    optim,
    select,
    set_grad_enabled,
    show,
    step_through,
    to_dot,
    use_engine,
    value_class,
)
from pygrad.engine import ML_Framework as EngineFramework
from pygrad.engine import Value as EngineValue
from pygrad.nn import MLP, Layer, Module, Neuron, SingleLayerNeuron, squared_error_loss
from pygrad.optim import SGD, Adam

# one Value type whichever path it was imported by
a: Value = EngineValue(2.0, label="a")
b: EngineValue = Value(3.0)
c: pygrad.Value = ML_Framework(1.0) + EngineFramework(1.0) + pygrad.engine.Value(1.0)
loss = pygrad.sum([a * b, c]) + dot([a], [b], 0.5)
loss.backward()
grads: List[float] = [a.grad, b.grad, c.grad]

model: Module = MLP(2, [4, 1])
layer = Layer(2, 3)
neuron = Neuron(2)
single = SingleLayerNeuron(2)
err: Value = squared_error_loss([a], [1.0])
opts = [SGD(model.parameters(), lr=0.1), Adam(model.parameters(), lr=1e-3),
        optim.SGD([a], lr=0.1), pygrad.optim.Adam([b]), nn.SGD([c], lr=0.1),
        pygrad.nn.SGD([a], lr=0.1)]
engines: List[str] = sorted(ENGINES)
name: str = get_engine()
use_engine(name)
reference_class = value_class("python")
leaf: Value = reference_class(1.0)
with no_grad():
    enabled: bool = is_grad_enabled()
previous = set_grad_enabled(True)
chosen = select(Value(1.0), [a, b])
row = select(0, [a, b])
biggest = max_data([a, b])
errors = (GradcheckError, TracerError, TracerWarning)
kinds = (CompiledFunction, Program)
program = compile(loss, inputs=[a], params=[b])


def square(x: Value) -> Value:
    return x * x


checked = gradcheck(square, [a])
dot_text: str = to_dot(loss)
functions = (compile_fn, draw)


# gradients of gradients, and pictures with nothing installed
def parabola(x: Value) -> Value:
    return 3 * x ** 2 - 4 * x + 5


def product(x: Value, y: Value) -> Value:
    return x * y


(slope,) = grad(parabola(a), [a], create_graph=True)
curvature: Value = grad(parabola)(2.0)
matrix: List[List[float]] = hessian(product, [1.0, 2.0])
hv: List[float] = hvp(product, [1.0, 2.0], [1.0, 0.0])
value_and_slope = jvp(parabola, [1.0], [1.0])
picture = show(loss)
picture.save("graph.svg")
page = step_through(loss)
