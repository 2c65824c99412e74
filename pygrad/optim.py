"""Optimizers over a list of parameters (Values of either engine)."""


class SGD:
    """Plain stochastic gradient descent: p.data -= lr * p.grad."""

    def __init__(self, params, lr=0.01):
        self.params = list(params)
        self.lr = lr

    def step(self):
        lr = self.lr
        for p in self.params:
            p.data = p.data - lr * p.grad

    def zero_grad(self):
        for p in self.params:
            p.grad = 0.0
