"""Neural-network building blocks, written once against the public Value API.

`Module`, `Neuron`, `Layer` and `MLP` are micrograd's, with micrograd's
initialisation order (so a seeded program gives micrograd's numbers); a
Neuron's `b + sum(w * x)` is one fused node (`Value.dot`), and a Layer is
one call (`Value.dense`); the gradients are those of the unfused graph. `SingleLayerNeuron` and `squared_error_loss`
are the tutorial's. Parameters are created on the engine that is active
when the module is built.
"""
import random
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._engines import value_class
from .optim import SGD

__all__ = ["Module", "Neuron", "Layer", "MLP", "SingleLayerNeuron", "squared_error_loss", "SGD"]


class Module:
    """Base class: parameters() lists the trainable Values; zero_grad() clears their grads."""

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0."""
        for p in self.parameters():
            p.grad = 0

    def parameters(self) -> List[Any]:
        """The trainable Values."""
        return []


# Counts assignments to any Neuron's attributes: a Layer rebuilds its fused
# plan when this moved (or its list of neurons changed), so the check per
# call is one comparison instead of a look at every neuron.
_neuron_edits = 0


class Neuron(Module):
    """micrograd's neuron: relu(b + w . x), or linear with nonlin=False."""

    def __setattr__(self, name: str, value: Any) -> None:
        global _neuron_edits
        _neuron_edits += 1
        super().__setattr__(name, value)

    def __init__(self, nin: int, nonlin: bool = True) -> None:
        Value = value_class()
        # A tuple, not micrograd's list: Layer caches the weights, and a tuple
        # cannot change under it (set `n.w[i].data`, or assign a new `n.w`).
        self.w = tuple(Value(random.uniform(-1, 1)) for _ in range(nin))
        self.b = Value(0)
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Any]) -> Any:
        act = type(self.b).dot(self.w, x, self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> List[Any]:
        """The weights, then the bias."""
        return list(self.w) + [self.b]

    def __repr__(self) -> str:
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """micrograd's layer of `nout` neurons over `nin` inputs."""

    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]
        self._plan: Optional[Callable[..., List[Any]]] = None
        self._plan_edits, self._plan_relu = -1, True
        self._plan_neurons: List[Neuron] = []

    def _fused_plan(self) -> Optional[Callable[..., List[Any]]]:
        """The fused call for all neurons, or None if they mix activations."""
        plan = self._plan
        if plan is None or self._plan_edits != _neuron_edits or self._plan_neurons != self.neurons:
            nonlins = {n.nonlin for n in self.neurons}
            plan = None
            if len(nonlins) == 1:
                V = type(self.neurons[0].b)
                plan = V.dense([n.w for n in self.neurons], [n.b for n in self.neurons])
                self._plan_relu = nonlins.pop()
            self._plan, self._plan_edits, self._plan_neurons = plan, _neuron_edits, list(self.neurons)
        return plan

    def __call__(self, x: Sequence[Any]) -> Any:
        # All neurons in one fused call; the same numbers as [n(x) for n in neurons].
        plan = self._fused_plan()
        out = plan(x, relu=self._plan_relu) if plan is not None else [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> List[Any]:
        """Every neuron's parameters, neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def __getstate__(self) -> Dict[str, Any]:
        # The fused plan holds C handles; it is rebuilt on the next call.
        return {**self.__dict__, "_plan": None, "_plan_edits": -1}

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """micrograd's multi-layer perceptron: MLP(nin, [sizes...]), ReLU except on the last layer."""

    def __init__(self, nin: int, nouts: List[int]) -> None:
        sz = [nin] + nouts
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]

    def __call__(self, x: Sequence[Any]) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> List[Any]:
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

    def __call__(self, x: Sequence[Any]) -> Any:
        cumulative_sum = self.bias
        for wi, xi in zip(self.weights, x):
            product = wi.times(xi)
            cumulative_sum = cumulative_sum.plus(product)
        return cumulative_sum


def squared_error_loss(model_prediction: Any, y_desired_output: Any) -> Any:
    """(prediction - target) ** 2, as the tutorial writes it."""
    difference_in_prediction = model_prediction.minus(y_desired_output)
    return difference_in_prediction.times(difference_in_prediction)
