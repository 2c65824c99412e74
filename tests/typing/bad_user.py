"""A user program with type errors: mypy must reject each marked line
(tests/test_typing.py counts the errors by line)."""
from pygrad import Value, optim
from pygrad.nn import MLP

a = Value(2.0)
a + "x"                  # error: a Value adds to Values and numbers only
Value("x")               # error: data is a number
bad: str = a.data        # error: data is a float
a.grad = "zero"          # error: grad is a float
a.tanh(2)                # error: tanh takes no argument
opt = optim.SGD([a], lr=0.1)
opt.lr = "fast"          # error: lr is a number
MLP(2, [1]).load_state_dict({"w": "x"})   # error: a state maps names to floats
optim.SGD([1.0, 2.0])     # error: an optimizer steps Values
MLP(2, [1]).parameters()[0].data = "x"   # error: a parameter's data is a float
