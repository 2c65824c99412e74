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

torch's conventions, with torch's names and formulas: `weight_decay=`
(SGD and Adam add wd * data to the grad; AdamW shrinks the data by
1 - lr * wd first), `state_dict()` / `load_state_dict()`, and parameters
with `requires_grad = False`, which a step leaves alone. Schedulers are in
`pygrad.optim.lr_scheduler`.
"""
import math
from array import array
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .. import _api
from .._api import ValueBase, as_float, number_or_none
from .._cbuf import is_doubles
from .._engines import cengine_or_none


def _c_kernels(params: Tuple[Any, ...]) -> Any:
    cengine = cengine_or_none()
    if cengine is None or not all(isinstance(p, cengine.Value) for p in params):   # subclasses too
        return None
    from .._ckernels import ParamKernels
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
    _hypers: Tuple[str, ...]     # the hyperparameters state_dict() saves, by attribute name
    _buffers: Tuple[str, ...]    # the per-parameter state, by attribute name

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
        self._frozen_seen: Tuple[int, Optional[bytes]] = (-1, None)   # (freeze epoch, mask)

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

    @property
    def weight_decay(self) -> float:
        """torch's weight_decay (L2), read at every step; a number >= 0."""
        return self._weight_decay

    @weight_decay.setter
    def weight_decay(self, wd: float) -> None:
        self._weight_decay = _hyper("weight_decay", wd)

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

    def _frozen(self) -> Optional[bytes]:
        """One byte per parameter, 1 where requires_grad is False; None if
        none is. Read again only after some Value's flag has changed."""
        epoch, mask = self._frozen_seen
        now = _api.freeze_epoch[0]      # read before the flags: a change while reading them is seen next step
        if epoch != now:
            flags = bytes(not p.requires_grad for p in self._params)
            mask = flags if any(flags) else None
            self._frozen_seen = (now, mask)
        return mask

    def _live(self) -> List[Tuple[int, ValueBase]]:
        """(index, parameter) for every parameter a step updates."""
        frozen = self._frozen()
        return [(i, p) for i, p in enumerate(self._params) if not (frozen and frozen[i])]

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0."""
        if self._c:
            self._c.zero_grad()
        else:
            zero_grads(self._params)

    def state_dict(self) -> Dict[str, Any]:
        """torch's layout, with floats: {"state": {i: {name: x}},
        "param_groups": [{hyperparameters..., "params": [0, 1, ...]}]}."""
        state = {i: {name: self._state_value(name, i) for name in self._buffers} for i in range(len(self._params))}
        group = {name: self._hyper_value(name) for name in self._hypers}
        group["params"] = list(range(len(self._params)))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Set the hyperparameters and state from state_dict(); on any error
        (wrong optimizer, parameter count, key or number) nothing changes."""
        try:
            (group,) = state_dict["param_groups"]
            state = state_dict["state"]
            n = len(self._params)
            if group["params"] != list(range(n)) or sorted(state) != list(range(n)):
                raise ValueError(f"it holds {len(group['params'])} parameters, this optimizer {n}")
            new = type(self).__new__(type(self))      # set and checked on a scratch copy first
            new.__dict__.update(self.__dict__)
            for name in self._hypers:
                new._set_hyper(name, group[name])
            for name in self._buffers:
                new._set_state(name, [state[i][name] for i in range(n)])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{type(self).__name__}.load_state_dict: not this optimizer's state: {e}") from None
        self.__dict__.update(new.__dict__)

    # state_dict's names <-> attributes; the subclasses say which they have.
    def _hyper_value(self, name: str) -> Any:
        return getattr(self, name)

    def _set_hyper(self, name: str, x: Any) -> None:
        setattr(self, name, x)

    def _state_value(self, name: str, i: int) -> Any:
        return getattr(self, self._STATE[name])[i]

    def _set_state(self, name: str, xs: List[Any]) -> None:
        setattr(self, self._STATE[name], array("d", [_finite(name, x) for x in xs]))

    _STATE: Dict[str, str] = {}

    # pickle/deepcopy: the C kernels hold C pointers, so they are made again.
    def __getstate__(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_c", "_frozen_seen")}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._c = _c_kernels(self._params)
        self._frozen_seen = (-1, None)


def _finite(name: str, x: Any) -> float:
    f = number_or_none(x)
    if f is None or not math.isfinite(f):
        raise ValueError(f"{name} must be a finite number, not {x!r}")
    return f


def _grad(p: ValueBase, wd: float) -> float:
    """The grad a step uses: with torch's coupled weight decay, grad + wd * data."""
    return p.grad + wd * p.data if wd != 0.0 else p.grad


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and weight decay,
    as torch.optim.SGD: g = grad + weight_decay * data;
    v = momentum * v + g; p.data -= lr * v (v = g without momentum)."""

    _hypers = ("lr", "momentum", "weight_decay")
    _buffers = ("momentum_buffer",)
    _STATE = {"momentum_buffer": "velocity"}

    def __init__(self, params: Iterable[ValueBase], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.velocity = self._zeros()

    @property
    def momentum(self) -> float:
        return self._momentum

    @momentum.setter
    def momentum(self, x: float) -> None:
        self._momentum = _hyper("momentum", x)

    def step(self) -> None:
        """Update every parameter that requires grad from its grad."""
        velocity = self._state("velocity")
        if self._c:
            self._c.sgd(self._frozen(), self.lr, self.momentum, self.weight_decay, velocity)
            return
        for i, p in self._live():
            step = _grad(p, self.weight_decay)
            if self.momentum != 0.0:
                velocity[i] = self.momentum * velocity[i] + step
                step = velocity[i]
            p.data = p.data - self.lr * step


class Adam(Optimizer):
    """Adam (Kingma & Ba), with bias correction, as torch.optim.Adam;
    weight_decay adds weight_decay * data to the grad (torch's L2)."""

    _decoupled = False
    _hypers = ("lr", "betas", "eps", "weight_decay")
    _buffers = ("step", "exp_avg", "exp_avg_sq")
    _STATE = {"exp_avg": "m", "exp_avg_sq": "v"}

    def __init__(self, params: Iterable[ValueBase], lr: float = 0.001,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params)
        self.lr, self.eps, self.betas, self.weight_decay = lr, eps, betas, weight_decay
        self.t = 0
        self.m, self.v = self._zeros(), self._zeros()

    @property
    def betas(self) -> Tuple[float, float]:
        return (self.beta1, self.beta2)

    @betas.setter
    def betas(self, betas: Tuple[float, float]) -> None:
        b1, b2 = betas
        self.beta1, self.beta2 = _hyper("beta1", b1, below=1.0), _hyper("beta2", b2, below=1.0)

    @property
    def eps(self) -> float:
        return self._eps

    @eps.setter
    def eps(self, x: float) -> None:
        self._eps = _hyper("eps", x)

    def _state_value(self, name: str, i: int) -> Any:
        return self.t if name == "step" else super()._state_value(name, i)

    def _set_state(self, name: str, xs: List[Any]) -> None:
        if name != "step":
            return super()._set_state(name, xs)
        if len(set(xs)) != 1 or type(xs[0]) is not int or xs[0] < 0:
            raise ValueError(f"step must be one int >= 0 for every parameter, not {xs[:3]!r}...")
        self.t = xs[0]

    def step(self) -> None:
        """Update every parameter that requires grad from its grad (bias-corrected moments)."""
        m, v = self._state("m"), self._state("v")
        self.t += 1
        wd, decoupled = self.weight_decay, self._decoupled
        if self._c:
            self._c.adam(self._frozen(), self.lr, self.beta1, self.beta2, self.eps, wd, decoupled,
                         self.t, m, v)
            return
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1 ** float(self.t), 1.0 - b2 ** float(self.t)
        shrink = 1.0 - self.lr * wd
        for i, p in self._live():
            if decoupled and wd != 0.0:
                p.data = p.data * shrink
            g = _grad(p, 0.0 if decoupled else wd)
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * (g * g)
            mhat, vhat = m[i] / c1, v[i] / c2
            p.data = p.data - self.lr * mhat / (math.sqrt(vhat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as
    torch.optim.AdamW: each step first shrinks data by 1 - lr * weight_decay."""

    _decoupled = True

    def __init__(self, params: Iterable[ValueBase], lr: float = 0.001,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


# `pygrad.optim.lr_scheduler`, as torch spells it.
from . import lr_scheduler  # noqa: E402,F401
