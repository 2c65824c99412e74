"""Neural-network building blocks, written once against the public Value API.

`Module`, `Neuron`, `Layer` and `MLP` are micrograd's, with micrograd's
initialisation order (so a seeded program gives micrograd's numbers); a
Neuron's `b + sum(w * x)` is one fused node (`Value.dot`), and a Layer is
one call (`Value.dense`); the gradients are those of the unfused graph. `SingleLayerNeuron` and `squared_error_loss`
are the tutorial's. Parameters are created on the engine that is active
when the module is built.
"""
import random
from itertools import chain
from operator import is_, itemgetter
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ._api import ValueBase, as_float
from ._engines import value_class
from .optim import SGD, zero_grads

if TYPE_CHECKING:
    from ._api import Operand
    from ._api import ValueBase as Value

__all__ = ["Module", "Neuron", "Layer", "MLP", "SingleLayerNeuron", "squared_error_loss", "SGD"]


class Module:
    """Base class: parameters() lists the trainable Values; zero_grad() clears their grads.

    By default a module's parameters are found in its attributes, in the
    order they were set: Values, lists and tuples of them, and sub-modules,
    searched recursively, each Value once. micrograd's subclasses, which
    override parameters(), work as before."""

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0."""
        zero_grads(self.parameters())

    def parameters(self) -> List["Value"]:
        """The trainable Values."""
        return [p for _, p in self.named_parameters()]

    def named_parameters(self) -> List[Tuple[str, "Value"]]:
        """(name, Value) for every Value found in the attributes, e.g.
        ("layers.0.neurons.3.w.1", w): attribute names and list indices."""
        found: List[Tuple[str, "Value"]] = []
        _collect(self, "", found, set())
        return found

    def state_dict(self) -> Dict[str, float]:
        """Every named parameter's data: {name: float}. Engine-neutral, so a
        model saved on one engine loads into the same model on the other."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Dict[str, float]) -> None:
        """Set each named parameter's data from `state`. The names must be
        exactly this module's; on any error nothing is changed."""
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if missing or unexpected:
            raise KeyError("load_state_dict: " + "; ".join(
                f"{what}: {', '.join(map(repr, keys))}"
                for what, keys in (("missing keys", missing), ("unexpected keys", unexpected)) if keys))
        values = [as_float(state[k]) for k in params]   # all checked before any is set
        _assign_all(list(params.values()), values)


def _assign_all(params: List[Any], values: List[float]) -> None:
    """Set each param's data, all or none: an exception on the way (Ctrl-C,
    a subclass's setter) puts back the data every param had."""
    old = [p.data for p in params]
    done = 0
    try:
        for p, x in zip(params, values):
            p.data = x
            done += 1
    except BaseException:
        for p, x in zip(params[:done + 1], old):   # (+1: the one being set may have changed)
            p.data = x
        raise


def _collect(obj: Any, prefix: str, found: List[Tuple[str, "Value"]], seen: Set[int]) -> None:
    """Append (name, Value) pairs found in obj's attributes (or items) to `found`."""
    if isinstance(obj, ValueBase):
        if id(obj) not in seen:
            seen.add(id(obj))
            found.append((prefix, obj))
        return
    if isinstance(obj, Module):
        items: Iterable[Tuple[Any, Any]] = vars(obj).items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return
    if id(obj) in seen:                  # shared, or referring back to itself
        return
    seen.add(id(obj))
    for name, value in items:
        _collect(value, f"{prefix}.{name}" if prefix else str(name), found, seen)


# nonlin= names an activation (micrograd's True/False: ReLU or none).
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "linear": None}
_REPR_NAMES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", None: "Linear"}


def activation(nonlin: Any) -> Optional[str]:
    """The Value method a neuron's `nonlin` applies ("relu", "tanh",
    "sigmoid"), or None for a linear neuron; ValueError for anything else."""
    if isinstance(nonlin, str):
        if nonlin.lower() in ACTIVATIONS:
            return ACTIVATIONS[nonlin.lower()]
    elif nonlin is True or nonlin is False or (type(nonlin) is int and nonlin in (0, 1)):
        return "relu" if nonlin else None
    raise ValueError(f"unknown activation nonlin={nonlin!r}; use one of "
                     f"{', '.join(map(repr, ACTIVATIONS))}, or True (ReLU) / False (linear)")


class Neuron(Module):
    """micrograd's neuron: relu(b + w . x), or linear with nonlin=False;
    nonlin="tanh", "sigmoid", "relu" or "linear" names the activation."""

    def __init__(self, nin: int, nonlin: Any = True) -> None:
        activation(nonlin)     # refuse an unknown one before making anything
        Value = value_class()
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def __setattr__(self, name: str, value: Any) -> None:
        # A Layer watches each neuron's __dict__ and class (see _Fused).
        if name in ("__dict__", "__class__"):
            raise AttributeError(f"a Neuron's {name} cannot be replaced; set its attributes instead")
        super().__setattr__(name, value)

    def __call__(self, x: Sequence["Operand"]) -> Any:
        act = type(self.b).dot(self.w, x, self.b)
        method = activation(self.nonlin)
        return getattr(act, method)() if method else act

    def parameters(self) -> List["Value"]:
        """The weights, then the bias."""
        return list(self.w) + [self.b]

    def __repr__(self) -> str:
        return f"{_REPR_NAMES[activation(self.nonlin)]}Neuron({len(self.w)})"


# What a fused call depends on in each neuron's attributes (compared by identity).
_USED = itemgetter("w", "b", "nonlin")


class _Fused:
    """A Layer's neurons as one fused call (`Value.dense`), with what it was
    made from: the neurons, their attribute dicts (live), the weight list,
    bias and activation each held, and a copy of each weight list. A call
    compares the live ones with these: the neurons and the attributes the
    call uses by identity (other attributes are never looked at, so a
    neuron may hold a numpy array, whose == is no yes/no answer), the
    weights with list ==, in C (identity first; two C Values are equal only
    on the same node). So any replaced weight list, weight, bias or
    activation, or in-place edit of n.w, makes a new fused call, and the
    common case costs no Python per neuron or weight. Never changed once
    made, so threads can share it."""

    __slots__ = ("neurons", "dicts", "used", "wlists", "wcopies", "call", "act")

    def __init__(self, neurons: List[Neuron]) -> None:
        self.neurons = neurons[:]        # a list's copy (a tuple is its own)
        self.dicts = [vars(n) for n in neurons]
        self.used = list(chain.from_iterable(map(_USED, self.dicts)))
        self.wlists = [d["w"] for d in self.dicts]
        self.wcopies = [list(w) for w in self.wlists]
        acts = {activation(n.nonlin) for n in neurons}
        self.call: Optional[Callable[..., List[Any]]] = None    # None: the neurons one by one
        self.act = acts.pop() if len(acts) == 1 else None
        if (len(acts) == 0 and len({len(w) for w in self.wlists}) == 1
                and all(type(n).__call__ is Neuron.__call__ for n in neurons)):
            self.call = type(neurons[0].b).dense(self.wlists, [n.b for n in neurons])

    def unchanged(self, neurons: List[Neuron]) -> bool:
        """Whether `neurons` are still what this call was made from."""
        try:
            used = chain.from_iterable(map(_USED, self.dicts))
        except KeyError:      # an attribute deleted: the neurons will say what is missing
            return False
        return (len(neurons) == len(self.neurons) and all(map(is_, neurons, self.neurons))
                and all(map(is_, used, self.used))
                and list(map(list, self.wlists)) == self.wcopies)   # (plain lists: no user __eq__ on them)

    def __call__(self, x: Sequence["Operand"]) -> List[Any]:
        assert self.call is not None
        out = self.call(x, self.act == "relu")
        if self.act in ("tanh", "sigmoid"):
            out = [getattr(o, self.act)() for o in out]
        return out


class Layer(Module):
    """micrograd's layer of `nout` neurons over `nin` inputs."""

    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x: Sequence["Operand"]) -> Any:
        # All neurons in one fused call; the same numbers as [n(x) for n in neurons].
        neurons = self.neurons
        fused = self.__dict__.get("_fused")
        if fused is None or not fused.unchanged(neurons):
            fused = self._fused = _Fused(neurons)
        out = fused(x) if fused.call is not None else [n(x) for n in neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> List["Value"]:
        """Every neuron's parameters, neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def __getstate__(self) -> Dict[str, Any]:
        # The fused call holds C handles; it is made again on the next call.
        state = dict(self.__dict__)
        state.pop("_fused", None)
        return state

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """micrograd's multi-layer perceptron: MLP(nin, [sizes...]), ReLU (or
    the activation `nonlin` names) except on the last layer, which is linear."""

    def __init__(self, nin: int, nouts: List[int], nonlin: Any = True) -> None:
        activation(nonlin)
        sz = [nin] + nouts
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=nonlin if i != len(nouts) - 1 else False)
                       for i in range(len(nouts))]

    def __call__(self, x: Sequence["Operand"]) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> List["Value"]:
        """Every layer's parameters, layer by layer."""
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


# ---------------------------------------------------------------------------
# the tutorial's model and loss


class SingleLayerNeuron(Module):
    """The tutorial's single-layer perceptron: weights 0.09, bias -0.9."""

    def __init__(self, num_of_inputs: int) -> None:
        Value = value_class()
        self.weights = [Value(0.09) for _ in range(num_of_inputs)]
        self.bias = Value(-0.9)

    def weights_bias_parameters(self) -> List[Any]:
        """The tutorial's name for parameters(): the weights, then the bias."""
        return self.weights + [self.bias]

    parameters = weights_bias_parameters

    def zero_value(self) -> None:
        """The tutorial's zero_grad(): set every parameter's `value` (grad) to 0."""
        for p in self.weights_bias_parameters():
            p.value = 0.0

    def __call__(self, x: Sequence["Operand"]) -> Any:
        cumulative_sum = self.bias
        for wi, xi in zip(self.weights, x):
            product = wi.times(xi)
            cumulative_sum = cumulative_sum.plus(product)
        return cumulative_sum


def squared_error_loss(model_prediction: Any, y_desired_output: Any) -> Any:
    """(prediction - target) ** 2, as the tutorial writes it."""
    difference_in_prediction = model_prediction.minus(y_desired_output)
    return difference_in_prediction.times(difference_in_prediction)
