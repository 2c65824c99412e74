"""The tutorial ("How Does AI Work? Create a Neural Network from Scratch"):
its own program with pygrad's ML_Framework swapped in, against the
reference Value, and pygrad's ready-made tutorial classes on both engines.
(The tutorial's printed figures are checked on examples/house_prices.py.)"""
import pytest

import pygrad
from pygrad.nn import SingleLayerNeuron, squared_error_loss

from .reference import Value as Ref


def tutorial_program(ML_Framework, houses, epochs=100, learning_rate=0.05):
    """The tutorial's program with its own neuron class: only where
    ML_Framework comes from changes. Returns what it prints."""
    class Neuron:
        def __init__(self, num_of_inputs):
            self.weights = [ML_Framework(0.09) for _ in range(num_of_inputs)]
            self.bias = ML_Framework(-0.9)

        def weights_bias_parameters(self):
            return self.weights + [self.bias]

        def zero_value(self):
            for p in self.weights_bias_parameters():
                p.value = 0.0

        def __call__(self, x):
            cumulative_sum = self.bias
            for wi, xi in zip(self.weights, x):
                cumulative_sum = cumulative_sum.plus(wi.times(xi))
            return cumulative_sum

    model, printed = Neuron(1), []
    for epoch in range(epochs):
        total_loss = 0
        for bedrooms, price in houses:
            difference = model([ML_Framework(bedrooms)]).minus(price)
            loss = difference.times(difference)
            model.zero_value()
            loss.backward()
            total_loss = total_loss + loss.data
            for p in model.weights_bias_parameters():
                p.data = p.data - learning_rate * p.value
        printed.append(f"Epoch {epoch}, Loss: {total_loss / len(houses)}")
    printed.append(f"${model([ML_Framework(5)]).data * 100000:.2f}")
    return printed


@pytest.mark.parametrize("houses", [[(1, 1.0)], [(1, 1.0), (2, 2.0), (3, 3.0)]], ids=["one house", "three"])
def test_the_tutorials_program_prints_the_references_figures(engine, houses):
    printed = tutorial_program(pygrad.ML_Framework, houses)
    assert printed == tutorial_program(Ref, houses)          # every figure, digit for digit
    assert printed[-1] == ("$498000.00" if len(houses) == 1 else "$500281.35")


def train(x_input_values, y_output_values, epochs=100, learning_rate=0.05):
    """The tutorial's training loop, as printed there."""
    model = SingleLayerNeuron(1)
    num_of_model_inputs = len(x_input_values)
    printed = []
    for _epoch in range(epochs):
        total_loss = 0
        for i in range(num_of_model_inputs):
            model_prediction = model(x_input_values[i])
            loss = squared_error_loss(model_prediction, y_output_values[i])
            model.zero_value()
            loss.backward()
            total_loss = total_loss + loss.data
            for weights_bias_parameters in model.weights_bias_parameters():
                weights_bias_parameters.data = weights_bias_parameters.data - (
                    learning_rate * weights_bias_parameters.value)
        mean_squared_error = total_loss / num_of_model_inputs
        printed.append(f"{mean_squared_error}")
    return model, printed


def predict_5_bedrooms(model):
    predicted_price = model([pygrad.ML_Framework(5)])
    return f"{predicted_price.data * 100000:.2f}"


def test_initial_parameters(engine):
    model = SingleLayerNeuron(1)
    assert [w.data for w in model.weights] == [0.09]
    assert model.bias.data == -0.9
    assert model.weights_bias_parameters() == model.weights + [model.bias]


def test_plain_float_inputs_give_the_same_figures(engine):
    # The tutorial's printed figures themselves are checked once, on the
    # example a user runs (test_examples.py); here: floats as inputs give
    # exactly what Values as inputs give.
    values, floats = train([[pygrad.ML_Framework(1)]], [1.0]), train([[1.0]], [1.0])
    assert values[1] == floats[1] and len(values[1]) == 100
    assert predict_5_bedrooms(values[0]) == predict_5_bedrooms(floats[0]) == "498000.00"


def test_minus_propagates_to_both_sides(engine):
    # Unlike the tutorial's original, `minus` keeps the subtrahend in the graph.
    a, b = pygrad.ML_Framework(5.0), pygrad.ML_Framework(2.0)
    d = a.minus(b)
    d.backward()
    assert (d.data, a.value, b.value) == (3.0, 1.0, -1.0)


def test_parabola_with_the_tutorials_methods(engine):
    x = pygrad.ML_Framework(2.0)
    y = 3 * x.times(x)          # 3x^2
    y = y.minus(4 * x)          # 3x^2 - 4x
    y = y.plus(5)               # 3x^2 - 4x + 5
    assert y.data == 9.0
    y.backward()
    assert x.value == x.grad == 6 * 2.0 - 4     # dy/dx = 6x - 4


def test_value_is_the_gradient(engine):
    x = pygrad.ML_Framework(1.5)
    x.value = 2.5
    assert x.grad == 2.5
    x.grad = -1.0
    assert x.value == -1.0


def test_zero_value_clears_the_gradients(engine):
    model = SingleLayerNeuron(2)
    squared_error_loss(model([1.0, 2.0]), 3.0).backward()
    assert any(p.value != 0.0 for p in model.weights_bias_parameters())
    model.zero_value()
    assert [p.value for p in model.weights_bias_parameters()] == [0.0, 0.0, 0.0]


def test_squared_error_loss(engine):
    pred = pygrad.ML_Framework(-0.81)
    loss = squared_error_loss(pred, 1.0)
    loss.backward()
    assert f"{loss.data}" == "3.2761"
    assert pred.grad == pytest.approx(2 * (-0.81 - 1.0), rel=1e-15)


def test_numeric_slope_of_the_parabola(engine):
    # The tutorial's first half: (f(x+h) - f(x)) / h at x = 2/3, evaluated
    # on Values (same figure as on floats), then the slope by autograd.
    def f(x):
        return 3 * x ** 2 - 4 * x + 5

    h, x0 = 0.0001, 2 / 3
    Value = pygrad.ML_Framework
    assert (f(Value(x0 + h)).data - f(Value(x0)).data) / h == 0.0002999999981767587
    assert f(Value(3.0 + 0.1)).data == 21.430000000000007
    x = Value(x0)
    f(x).backward()
    assert x.grad == pytest.approx(0.0, abs=1e-15)
