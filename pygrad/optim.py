"""Optimizers over a list of parameters (Values of either engine).

The update rules are written here in plain Python (the specification).
When every parameter lives in the C engine the same arithmetic runs in C,
one call per step for all parameters (cengine.ParamKernels, csrc/optim.c).
"""
import math
from typing import Any, Iterable, Tuple

from ._engines import cengine_or_none


def _c_kernels(params: Tuple[Any, ...]) -> Any:
    cengine = cengine_or_none()
    if cengine is None or not params or any(type(p) is not cengine.Value for p in params):
        return None
    return cengine.ParamKernels(params)


class Optimizer:
    """Holds the parameters (a tuple) and clears their grads."""

    def __init__(self, params: Iterable[Any]) -> None:
        # A tuple: the C kernels pack the parameters' ids once, so the list
        # cannot be allowed to change under them.
        self.params = tuple(params)
        self._c = _c_kernels(self.params)

    def _state(self) -> Any:
        return self._c.state() if self._c else [0.0] * len(self.params)

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0."""
        if self._c:
            self._c.zero_grad()
            return
        for p in self.params:
            p.grad = 0.0


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum:
    v = momentum * v + grad; p.data -= lr * v (v = grad without momentum)."""

    def __init__(self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(params)
        self.lr, self.momentum = lr, momentum
        self.velocity = self._state()

    def step(self) -> None:
        """Update every parameter from its grad."""
        if self._c:
            self._c.sgd(self.lr, self.momentum, self.velocity)
            return
        for i, p in enumerate(self.params):
            step = p.grad
            if self.momentum != 0.0:
                self.velocity[i] = self.momentum * self.velocity[i] + step
                step = self.velocity[i]
            p.data = p.data - self.lr * step


class Adam(Optimizer):
    """Adam (Kingma & Ba), with bias correction."""

    def __init__(self, params: Iterable[Any], lr: float = 0.001,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.t = 0
        self.m, self.v = self._state(), self._state()

    def step(self) -> None:
        """Update every parameter from its grad (bias-corrected moments)."""
        self.t += 1
        if self._c:
            self._c.adam(self.lr, self.beta1, self.beta2, self.eps, self.t, self.m, self.v)
            return
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1 ** float(self.t), 1.0 - b2 ** float(self.t)
        for i, p in enumerate(self.params):
            g = p.grad
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * (g * g)
            mhat, vhat = self.m[i] / c1, self.v[i] / c2
            p.data = p.data - self.lr * mhat / (math.sqrt(vhat) + self.eps)
