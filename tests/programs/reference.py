"""An independent pure-Python scalar Value with micrograd's semantics, the
yardstick for the programs in this folder. Written plainly, not for speed:
each node stores its children with their local derivatives, and its
`_backward()` pushes its grad into them (so the lecture's manual steps work).
It shares no code with pygrad.

Semantics kept from micrograd: `_prev` is the set of children, `_op` the
op's symbol, `label` a free string; `backward()` sets the root's grad to 1
and sweeps the nodes in reverse topological order, accumulating (grads are
never zeroed by it); `a - b` is `a + (-b)`, `a / b` is `a * b**-1`, `-a` is
`a * -1`. The tutorial's names (plus, times, minus, value) are aliases.
"""
import math


class Value:
    def __init__(self, data, _children=(), _op="", label="", _local=()):
        self.data = data
        self.grad = 0.0
        self.label = label
        self._op = _op
        self._kids = tuple(_children)
        self._prev = set(_children)
        self._local = tuple(_local)          # d(self)/d(kid), one per kid

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    @staticmethod
    def _lift(x):
        return x if isinstance(x, Value) else Value(x)

    def _backward(self):
        for kid, local in zip(self._kids, self._local):
            kid.grad += local * self.grad

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((kid, False) for kid in node._kids)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()

    # -- the ops: value, children, local derivatives ---------------------------

    def __add__(self, other):
        other = self._lift(other)
        return Value(self.data + other.data, (self, other), "+", _local=(1.0, 1.0))

    def __mul__(self, other):
        other = self._lift(other)
        return Value(self.data * other.data, (self, other), "*", _local=(other.data, self.data))

    def __pow__(self, k):
        assert isinstance(k, (int, float)), "only number exponents, as in micrograd"
        return Value(self.data ** k, (self,), f"**{k}", _local=(k * self.data ** (k - 1),))

    def relu(self):
        out = 0.0 if self.data < 0 else self.data
        return Value(out, (self,), "ReLU", _local=(float(out > 0),))

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), "tanh", _local=(1 - t ** 2,))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), "exp", _local=(e,))

    def log(self):
        return Value(math.log(self.data), (self,), "log", _local=(1 / self.data,))

    # -- derived, as micrograd derives them --------------------------------------

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return other + (-self)

    def __rtruediv__(self, other):
        return other * self ** -1

    # -- the tutorial's names ----------------------------------------------------

    plus, times, minus = __add__, __mul__, __sub__

    @property
    def value(self):
        return self.grad

    @value.setter
    def value(self, g):
        self.grad = g
