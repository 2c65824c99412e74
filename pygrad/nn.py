"""Neural-network building blocks, written once against the public Value API.

`Module`, `Neuron`, `Layer` and `MLP` are micrograd's, with micrograd's
initialisation order (so a seeded program gives micrograd's numbers); a
Neuron's `b + sum(w * x)` is one fused node (`Value.dot`), whose gradients
are those of the unfused graph. `SingleLayerNeuron` and `squared_error_loss`
are the tutorial's. Parameters are created on the engine that is active
when the module is built.
"""
import random

from ._engines import value_class
from .optim import SGD

__all__ = ["Module", "Neuron", "Layer", "MLP", "SingleLayerNeuron", "squared_error_loss", "SGD"]


class Module:

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0

    def parameters(self):
        return []


class Neuron(Module):

    def __init__(self, nin, nonlin=True):
        Value = value_class()
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = type(self.b).dot(self.w, x, self.b)
        return act.relu() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]

    def __repr__(self):
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):

    def __init__(self, nin, nout, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):

    def __init__(self, nin, nouts):
        sz = [nin] + nouts
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


# ---------------------------------------------------------------------------
# the tutorial's model and loss


class SingleLayerNeuron(Module):
    """The tutorial's single-layer perceptron: weights 0.09, bias -0.9."""

    def __init__(self, num_of_inputs):
        Value = value_class()
        self.weights = [Value(0.09) for _ in range(num_of_inputs)]
        self.bias = Value(-0.9)

    def weights_bias_parameters(self):
        return self.weights + [self.bias]

    parameters = weights_bias_parameters

    def zero_value(self):
        for p in self.weights_bias_parameters():
            p.value = 0.0

    def __call__(self, x):
        cumulative_sum = self.bias
        for wi, xi in zip(self.weights, x):
            product = wi.times(xi)
            cumulative_sum = cumulative_sum.plus(product)
        return cumulative_sum


def squared_error_loss(model_prediction, y_desired_output):
    """(prediction - target) ** 2, as the tutorial writes it."""
    difference_in_prediction = model_prediction.minus(y_desired_output)
    return difference_in_prediction.times(difference_in_prediction)
