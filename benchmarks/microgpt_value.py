"""The baseline of the microgpt rows: a Value in the shape Karpathy's
microgpt.py publishes (each node keeps its children and their local
gradients; backward sorts the graph with a recursive `build_topo`, then
sweeps it in reverse), and microgpt's Adam, a Python loop over p.data and
p.grad. Written here from that description, so that the baseline is what
microgpt users run, not a tuned rival (an iterative sort, for one, would
flatter it)."""
import math


class MicrogptValue:
    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other):
        other = other if isinstance(other, MicrogptValue) else MicrogptValue(other)
        return MicrogptValue(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, MicrogptValue) else MicrogptValue(other)
        return MicrogptValue(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, other):
        return MicrogptValue(self.data ** other, (self,), (other * self.data ** (other - 1),))

    def log(self):
        return MicrogptValue(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        return MicrogptValue(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self):
        return MicrogptValue(max(0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return other * self ** -1

    def backward(self):
        topo = []
        visited = set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)
        build_topo(self)   # microgpt's graphs are a few hundred deep (block_size 16): within Python's limit
        self.grad = 1
        for v in reversed(topo):
            for child, local_grad in zip(v._children, v._local_grads):
                child.grad += local_grad * v.grad


def adam_loop(params, m, v, step, lr, betas, eps):
    """microgpt's update, as published: bias-corrected moments, then p.grad = 0."""
    beta1, beta2 = betas
    for i, p in enumerate(params):
        m[i] = beta1 * m[i] + (1 - beta1) * p.grad
        v[i] = beta2 * v[i] + (1 - beta2) * p.grad ** 2
        m_hat = m[i] / (1 - beta1 ** (step + 1))
        v_hat = v[i] / (1 - beta2 ** (step + 1))
        p.data -= lr * m_hat / (v_hat ** 0.5 + eps)
        p.grad = 0
