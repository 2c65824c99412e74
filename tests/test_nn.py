"""pygrad.nn: micrograd's Module/Neuron/Layer/MLP (structure, reprs,
initialisation order), seeded training identical on both engines and equal
to micrograd's, and the fused dot giving the unfused graph's gradients."""
import random

import pytest

import pygrad
from pygrad import nn, optim

# -- structure ------------------------------------------------------------------


def test_neuron(engine):
    random.seed(42)
    n = nn.Neuron(3)
    random.seed(42)
    expected = [random.uniform(-1, 1) for _ in range(3)]   # micrograd's draw order
    assert [w.data for w in n.w] == expected
    assert n.b.data == 0.0
    assert n.parameters() == list(n.w) + [n.b]
    assert all(type(p) is engine for p in n.parameters())
    assert repr(n) == "ReLUNeuron(3)"
    assert repr(nn.Neuron(2, nonlin=False)) == "LinearNeuron(2)"


@pytest.mark.parametrize("nonlin", [True, False])
def test_neuron_output(engine, nonlin):
    random.seed(3)
    n = nn.Neuron(3, nonlin=nonlin)
    n.b.data = 0.25
    x = [1.0, -2.0, 0.5]
    act = 0.25 + n.w[0].data * 1.0 + n.w[1].data * -2.0 + n.w[2].data * 0.5
    out = n(x)
    assert out.data == (max(act, 0.0) if nonlin else act)
    assert out._op == ("ReLU" if nonlin else "dot")


def test_layer(engine):
    layer = nn.Layer(3, 4)
    out = layer([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 4
    assert len(layer.parameters()) == 4 * (3 + 1)
    assert repr(layer) == "Layer of [ReLUNeuron(3), ReLUNeuron(3), ReLUNeuron(3), ReLUNeuron(3)]"
    single = nn.Layer(3, 1)([1.0, 2.0, 3.0])
    assert isinstance(single, engine)   # one neuron: a Value, not a list


def per_neuron(layer, x):
    """What a Layer must equal: micrograd's [n(x) for n in neurons]."""
    return [n(x) for n in layer.neurons]


@pytest.mark.parametrize("nonlin", [True, False])
def test_layer_equals_its_neurons_one_by_one(engine, nonlin):
    # Layer runs all neurons in one fused call; values and grads must be
    # those of the neurons called one by one, to the last bit.
    def run(fused):
        random.seed(5)
        layer = nn.Layer(4, 3, nonlin=nonlin)
        x = [pygrad.Value(v) for v in (0.5, -1.5, 2.0, 0.25)]
        outs = layer(x) if fused else per_neuron(layer, x)
        sum(o * o for o in outs).backward()
        return [repr(o.data) for o in outs] + [repr(v.grad) for v in layer.parameters() + x]

    assert run(fused=True) == run(fused=False)


def test_layer_sees_parameter_changes(engine):
    random.seed(9)
    layer = nn.Layer(2, 2)
    x = [1.5, -0.5]
    layer(x)
    first = layer.neurons[0]
    first.w[1].data = 4.0                  # changed in place
    first.b = pygrad.Value(-0.25)          # replaced
    outs = layer(x)
    assert [o.data for o in outs] == [o.data for o in per_neuron(layer, x)]
    outs[0].backward()
    assert first.b.grad == (1.0 if outs[0].data > 0 else 0.0)
    layer.neurons[1].nonlin = False        # mixed activations
    assert [o.data for o in layer(x)] == [o.data for o in per_neuron(layer, x)]
    layer.neurons[1].nonlin = True
    layer.neurons[0] = nn.Neuron(2)        # a neuron swapped in the list
    layer.neurons[1].w = (pygrad.Value(2.0), pygrad.Value(-3.0))   # new weights
    outs = layer(x)
    assert [o.data for o in outs] == [o.data for o in per_neuron(layer, x)]
    assert outs[1].data == max(0.0, 0.0 + 2.0 * 1.5 + -3.0 * -0.5)


def test_layer_rejects_the_wrong_number_of_inputs(engine):
    layer = nn.Layer(3, 2)
    with pytest.raises(ValueError, match="3 weights per row but 2 inputs"):
        layer([1.0, 2.0])


def test_mlp(engine):
    model = nn.MLP(2, [16, 16, 1])
    assert len(model.parameters()) == (2 + 1) * 16 + (16 + 1) * 16 + (16 + 1) * 1 == 337
    assert repr(model) == ("MLP of [Layer of [" + ", ".join(["ReLUNeuron(2)"] * 16) + "], Layer of ["
                           + ", ".join(["ReLUNeuron(16)"] * 16) + "], Layer of [LinearNeuron(16)]]")
    assert isinstance(model([0.5, -1.0]), engine)


def test_reprs_match_micrograd(engine):
    micrograd_nn = pytest.importorskip("micrograd.nn")
    assert repr(nn.MLP(3, [4, 2, 1])) == repr(micrograd_nn.MLP(3, [4, 2, 1]))


def test_zero_grad(engine):
    model = nn.MLP(2, [3, 1])
    model([1.0, 2.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    assert nn.Module().parameters() == []


def test_modules_keep_the_engine_they_were_built_on(engine):
    model = nn.MLP(2, [2, 1])
    other = "python" if pygrad.get_engine() == "c" else "c"
    pygrad.use_engine(other)       # the fixture restores the active engine
    out = model([1.0, 2.0])
    assert type(out) is engine


def test_sgd(engine):
    assert nn.SGD is optim.SGD
    Value = pygrad.Value
    a, b = Value(1.0), Value(-2.0)
    (a * b).backward()
    opt = optim.SGD([a, b], lr=0.5)
    opt.step()
    assert (a.data, b.data) == (1.0 - 0.5 * -2.0, -2.0 - 0.5 * 1.0)
    opt.zero_grad()
    assert (a.grad, b.grad) == (0.0, 0.0)


# -- seeded training -----------------------------------------------------------------


def dataset():
    rng = random.Random(0)
    xs = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(20)]
    ys = [1.0 if x0 * x1 > 0 else -1.0 for x0, x1 in xs]
    return xs, ys


def train(mlp_class, steps=5):
    """micrograd's demo: max-margin loss + L2, SGD with a decaying rate.
    Written with ops micrograd 0.1.0 has, so it runs there unchanged."""
    random.seed(1337)
    model = mlp_class(2, [16, 16, 1])
    xs, ys = dataset()
    losses = []
    for k in range(steps):
        scores = [model(x) for x in xs]
        data_loss = sum((1 + -y * s).relu() for y, s in zip(ys, scores)) * (1.0 / len(xs))
        loss = data_loss + 1e-4 * sum(p * p for p in model.parameters())
        model.zero_grad()
        loss.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses, [p.data for p in model.parameters()]


def test_seeded_training_is_identical_on_both_engines(run_on):
    c_losses, c_params = run_on("c", train, nn.MLP)
    py_losses, py_params = run_on("python", train, nn.MLP)
    assert list(map(repr, c_losses)) == list(map(repr, py_losses))      # bitwise
    assert list(map(repr, c_params)) == list(map(repr, py_params))
    assert c_losses[-1] < c_losses[0]                                   # it learns


@pytest.mark.slow
def test_seeded_training_matches_micrograd(engine):
    micrograd_nn = pytest.importorskip("micrograd.nn")
    theirs, their_params = train(micrograd_nn.MLP)
    ours, our_params = train(nn.MLP)
    # micrograd walks _prev sets, so sums may be accumulated in another order.
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert our_params == pytest.approx(their_params, rel=1e-12, abs=1e-15)


# -- the fused dot ---------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True])
def test_fused_dot_has_the_unfused_gradients(engine, shared):
    def graph(fused):
        rng = random.Random(7)
        ws = [engine(rng.uniform(-1, 1)) for _ in range(5)]
        xs = [engine(rng.uniform(-1, 1)) for _ in range(5)]
        if shared:                       # a Value on both sides and twice over
            xs[3], ws[4] = ws[0], xs[1]
        b = engine(0.3)
        if fused:
            act = engine.dot(ws, xs, b)
        else:
            act = b
            for w, x in zip(ws, xs):
                act = act + w * x
        out = act.tanh() * act
        out.backward()
        return [repr(v.data) for v in ws + xs + [b, out]] + [repr(v.grad) for v in ws + xs + [b]]

    assert graph(fused=True) == graph(fused=False)
