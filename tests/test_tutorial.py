"""The tutorial ("How Does AI Work? Create a Neural Network from Scratch"),
run with pygrad on both engines: its printed figures, digit for digit."""
import pytest

import pygrad
from pygrad.nn import SingleLayerNeuron, squared_error_loss

# The tutorial's output, Epoch 0 to 30 (../shared/seed/tutorial.txt).
TUTORIAL_LOSSES = [
    "3.2761", "2.096704", "1.3418905599999997", "0.8588099583999995", "0.5496383733759997",
    "0.35176855896063985", "0.2251318777348095", "0.14408440175027803", "0.09221401712017797",
    "0.05901697095691388", "0.03777086141242487", "0.02417335130395193", "0.015470944834529213",
    "0.009901404694098687", "0.006336899004223174", "0.004055615362702837",
    "0.0025955938321298136", "0.0016611800525630788", "0.0010631552336403704",
    "0.0006804193495298324", "0.0004354683836990928", "0.0002786997655674194",
    "0.00017836784996314722", "0.00011415542397641612", "7.305947134490555e-05",
    "4.675806166074016e-05", "2.9925159462873704e-05", "1.915210205623956e-05",
    "1.2257345315993629e-05", "7.844701002235673e-06", "5.020608641430632e-06",
]


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


def test_initial_parameters(active_engine):
    model = SingleLayerNeuron(1)
    assert [w.data for w in model.weights] == [0.09]
    assert model.bias.data == -0.9
    assert model.weights_bias_parameters() == model.weights + [model.bias]


def test_first_sample_only_reproduces_the_printed_losses(active_engine):
    # The tutorial's loop ran over its first sample only (1 bedroom -> 1.0).
    model, printed = train([[pygrad.ML_Framework(1)]], [1.0])
    assert printed[:31] == TUTORIAL_LOSSES
    assert predict_5_bedrooms(model) == "498000.00"


def test_plain_float_inputs_give_the_same_figures(active_engine):
    model, printed = train([[1.0]], [1.0])
    assert printed[:31] == TUTORIAL_LOSSES
    assert predict_5_bedrooms(model) == "498000.00"


def test_all_three_houses(active_engine):
    xs = [[pygrad.ML_Framework(n)] for n in (1, 2, 3)]
    model, printed = train(xs, [1.0, 2.0, 3.0])
    assert predict_5_bedrooms(model) == "500281.35"
    assert float(printed[-1]) < float(printed[0])


def test_minus_propagates_to_both_sides(active_engine):
    # Unlike the tutorial's original, `minus` keeps the subtrahend in the graph.
    a, b = pygrad.ML_Framework(5.0), pygrad.ML_Framework(2.0)
    d = a.minus(b)
    d.backward()
    assert (d.data, a.value, b.value) == (3.0, 1.0, -1.0)


def test_parabola_with_the_tutorials_methods(active_engine):
    x = pygrad.ML_Framework(2.0)
    y = 3 * x.times(x)          # 3x^2
    y = y.minus(4 * x)          # 3x^2 - 4x
    y = y.plus(5)               # 3x^2 - 4x + 5
    assert y.data == 9.0
    y.backward()
    assert x.value == x.grad == 6 * 2.0 - 4     # dy/dx = 6x - 4


def test_value_is_the_gradient(active_engine):
    x = pygrad.ML_Framework(1.5)
    x.value = 2.5
    assert x.grad == 2.5
    x.grad = -1.0
    assert x.value == -1.0


def test_zero_value_clears_the_gradients(active_engine):
    model = SingleLayerNeuron(2)
    squared_error_loss(model([1.0, 2.0]), 3.0).backward()
    assert any(p.value != 0.0 for p in model.weights_bias_parameters())
    model.zero_value()
    assert [p.value for p in model.weights_bias_parameters()] == [0.0, 0.0, 0.0]


def test_squared_error_loss(active_engine):
    pred = pygrad.ML_Framework(-0.81)
    loss = squared_error_loss(pred, 1.0)
    loss.backward()
    assert f"{loss.data}" == "3.2761"
    assert pred.grad == pytest.approx(2 * (-0.81 - 1.0), rel=1e-15)


def test_numeric_slope_of_the_parabola(active_engine):
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
