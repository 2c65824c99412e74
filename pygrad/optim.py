"""Optimizers over a list of parameters (Values of either engine).

The update rules are written here in plain Python (the specification).
When every parameter lives in the C engine the same arithmetic runs in C,
one call per step for all parameters (_ckernels.py, csrc/optim.c).

An optimizer's parameters are fixed when it is made (`opt.params` is a
tuple and cannot be reassigned: make a new optimizer for other
parameters). Its hyperparameters, `lr` included, are read at every step
and may be changed between steps. Optimizers pickle and deepcopy with
their state (momentum, Adam's moments and step count) on both engines;
pickle a model and its optimizer together to keep them sharing parameters.
"""
import math
from array import array
from typing import Any, Dict, Iterable, Optional, Tuple

from ._api import ValueBase, as_float, number_or_none
from ._cbuf import is_doubles
from ._engines import cengine_or_none


def _c_kernels(params: Tuple[Any, ...]) -> Any:
    cengine = cengine_or_none()
    if cengine is None or not all(isinstance(p, cengine.Value) for p in params):   # subclasses too
        return None
    from ._ckernels import ParamKernels
    return ParamKernels(params)


def zero_grads(params: Iterable[Any]) -> None:
    """Set every Value's grad to 0: one C call when all are C-engine Values."""
    ps = tuple(params)
    kernels = _c_kernels(ps) if ps else None
    if kernels:
        kernels.zero_grad()
        return
    for p in ps:
        p.grad = 0.0


def _hyper(name: str, x: Any, below: float = math.inf) -> float:
    """x as a float in [0, below), or the error torch.optim gives."""
    f = number_or_none(x)
    if f is None:
        raise TypeError(f"{name} must be a real number, not {type(x).__name__}")
    if not (0.0 <= f < below):       # also refuses NaN and inf
        raise ValueError(f"invalid {name}: {x!r}")
    return f


class Optimizer:
    """Holds the parameters (a tuple) and clears their grads."""

    _c: Optional[Any]            # the C kernels, or None: the Python loops
    _params: Tuple[ValueBase, ...]
    _lr: float

    def __init__(self, params: Iterable[ValueBase]) -> None:
        if isinstance(params, ValueBase):
            raise TypeError("an optimizer takes an iterable of Values (e.g. model.parameters()), not one Value")
        ps = tuple(params)
        if not ps:
            raise ValueError("optimizer got an empty parameter list")
        for p in ps:
            if not isinstance(p, ValueBase):
                raise TypeError(f"an optimizer steps pygrad Values, not {type(p).__name__}")
        self._params = ps
        self._c = _c_kernels(ps)

    @property
    def params(self) -> Tuple[ValueBase, ...]:
        """The parameters, fixed when the optimizer was made."""
        return self._params

    @params.setter
    def params(self, _: Any) -> None:
        raise AttributeError("an optimizer's parameters are fixed when it is made: "
                             "make a new optimizer to step other parameters")

    @property
    def lr(self) -> float:
        """The learning rate, read at every step; a finite number >= 0."""
        return self._lr

    @lr.setter
    def lr(self, lr: float) -> None:
        self._lr = _hyper("learning rate", lr)

    def _zeros(self) -> "array[float]":
        return array("d", bytes(8 * len(self._params)))

    def _state(self, name: str) -> Any:
        """State `name` (momentum, a moment): one float64 per parameter, which
        C updates in place. State the user set in another form (a float32
        or non-contiguous numpy array, a list) is copied into an array('d')
        first, on both engines: C trusts item size and length."""
        s, n = getattr(self, name), len(self._params)
        if not is_doubles(s, n, writable=True):
            if len(s) != n:
                raise ValueError(f"optimizer state has {len(s)} entries for {n} parameters (opt.{name})")
            try:
                s = array("d", [as_float(x) for x in s])
            except TypeError as exc:
                raise TypeError(f"optimizer state {name!r}: {exc}") from None
            setattr(self, name, s)
        return s

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0."""
        if self._c:
            self._c.zero_grad()
        else:
            zero_grads(self._params)

    # pickle/deepcopy: the C kernels hold C pointers, so they are made again.
    def __getstate__(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_c"}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._c = _c_kernels(self._params)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum:
    v = momentum * v + grad; p.data -= lr * v (v = grad without momentum)."""

    def __init__(self, params: Iterable[ValueBase], lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(params)
        self.lr, self.momentum = lr, _hyper("momentum", momentum)
        self.velocity = self._zeros()

    def step(self) -> None:
        """Update every parameter from its grad."""
        velocity = self._state("velocity")
        if self._c:
            self._c.sgd(self.lr, self.momentum, velocity)
            return
        for i, p in enumerate(self._params):
            step = p.grad
            if self.momentum != 0.0:
                velocity[i] = self.momentum * velocity[i] + step
                step = velocity[i]
            p.data = p.data - self.lr * step


class Adam(Optimizer):
    """Adam (Kingma & Ba), with bias correction."""

    def __init__(self, params: Iterable[ValueBase], lr: float = 0.001,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params)
        b1, b2 = betas
        self.lr, self.eps = lr, _hyper("eps", eps)
        self.beta1, self.beta2 = _hyper("beta1", b1, below=1.0), _hyper("beta2", b2, below=1.0)
        self.t = 0
        self.m, self.v = self._zeros(), self._zeros()

    def step(self) -> None:
        """Update every parameter from its grad (bias-corrected moments)."""
        m, v = self._state("m"), self._state("v")
        self.t += 1
        if self._c:
            self._c.adam(self.lr, self.beta1, self.beta2, self.eps, self.t, m, v)
            return
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1 ** float(self.t), 1.0 - b2 ** float(self.t)
        for i, p in enumerate(self._params):
            g = p.grad
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * (g * g)
            mhat, vhat = m[i] / c1, v[i] / c2
            p.data = p.data - self.lr * mhat / (math.sqrt(vhat) + self.eps)
