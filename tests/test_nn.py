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


def test_neuron_weights_are_a_list_as_in_micrograd(engine):
    n = nn.Neuron(3)
    assert type(n.w) is list
    assert n.w + [n.b] == n.parameters()
    n.w.append(pygrad.Value(0.5))
    assert len(n.parameters()) == 5 and repr(n) == "ReLUNeuron(4)"


def _replace_weight(layer):
    layer.neurons[0].w[1] = pygrad.Value(4.0)


def _replace_weight_by_equal_data(layer):
    # A new Value with the same data is still another parameter: its grad
    # must receive the gradient, not the old one's.
    for n in layer.neurons:
        n.w[0] = pygrad.Value(n.w[0].data)


def _replace_weight_list(layer):
    layer.neurons[1].w = [pygrad.Value(2.0), pygrad.Value(-3.0)]


def _append_weights(layer):
    for n in layer.neurons:
        n.w.append(pygrad.Value(0.75))


def _reverse_weights(layer):
    layer.neurons[0].w.reverse()


def _replace_bias(layer):
    layer.neurons[0].b = pygrad.Value(-0.25)


def _change_activation(layer):
    layer.neurons[1].nonlin = False


def _change_all_activations(layer):
    for n in layer.neurons:
        n.nonlin = False


def _replace_neuron(layer):
    layer.neurons[0] = nn.Neuron(2)


def _add_neuron(layer):
    layer.neurons.append(nn.Neuron(2))


def _replace_neuron_list(layer):
    layer.neurons = [nn.Neuron(2), nn.Neuron(2, nonlin=False)]


def _edit_the_attribute_dict(layer):
    vars(layer.neurons[1]).update(b=pygrad.Value(0.5), w=[pygrad.Value(1.0), pygrad.Value(1.0)])


def _change_data_only(layer):
    layer.neurons[0].w[0].data = 10.0
    layer.neurons[1].b.data = -1.0


MUTATIONS = [_replace_weight, _replace_weight_by_equal_data, _replace_weight_list, _append_weights,
             _reverse_weights, _replace_bias, _change_activation, _change_all_activations,
             _replace_neuron, _add_neuron, _replace_neuron_list, _edit_the_attribute_dict, _change_data_only]


class _Weights(list):
    """A weight list of the user's own type: the check in C leaves it to Python's."""


def _weights_of_own_type(layer):
    for n in layer.neurons:
        n.w = _Weights(n.w)


def _edit_own_type_weights(layer):
    _weights_of_own_type(layer)
    layer([1.0, 2.0])                      # a fused call over them, then an edit in place
    layer.neurons[0].w[1] = pygrad.Value(3.0)


MUTATIONS += [_weights_of_own_type, _edit_own_type_weights]


@pytest.fixture(params=["c", "python"])
def layer_check(request, monkeypatch):
    """nn's check that a fused call is current: in C where built (the
    default), and its Python specification."""
    if request.param == "python":
        monkeypatch.setattr(nn, "_c_unchanged", None)
    elif nn._c_unchanged is None:
        pytest.skip("no C core on this interpreter (PyPy, or not built)")
    return request.param


@pytest.mark.parametrize("mutate", MUTATIONS, ids=[m.__name__[1:] for m in MUTATIONS])
def test_layer_is_never_stale(engine, mutate, layer_check):
    # The fused call must follow every edit a micrograd user can make: after
    # it, values and grads are those of the neurons called one by one.
    random.seed(9)
    layer = nn.Layer(2, 2)
    x = [pygrad.Value(1.5), pygrad.Value(-0.5)]
    layer(x)                                   # the fused call is made here
    mutate(layer)
    if mutate is _append_weights:
        x.append(pygrad.Value(2.0))

    def run(outs):
        for p in layer.parameters() + x:
            p.grad = 0.0
        outs = outs if isinstance(outs, list) else [outs]
        pygrad.sum([o * (i + 1) for i, o in enumerate(outs)]).backward()
        return [repr(o.data) for o in outs] + [repr(p.grad) for p in layer.parameters() + x]

    expected = run(per_neuron(layer, x))
    assert run(layer(x)) == expected
    assert run(layer(x)) == expected           # and again, from the remade call


def test_a_neurons_dict_and_class_cannot_be_replaced(engine):
    # a Layer watches them: replacing them would hide edits from it
    n = nn.Neuron(2)
    with pytest.raises(AttributeError, match="cannot be replaced"):
        n.__dict__ = {"w": [], "b": pygrad.Value(0.0), "nonlin": True}

    class Custom(nn.Neuron):
        pass

    with pytest.raises(AttributeError, match="cannot be replaced"):
        n.__class__ = Custom


def test_layer_with_unequal_neurons_gives_the_neurons_error(engine):
    layer = nn.Layer(2, 2)
    layer.neurons[0].w.append(pygrad.Value(1.0))
    with pytest.raises(ValueError, match="3 weights but 2 inputs"):
        layer([1.0, 2.0])


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


# -- Module: default parameters() and state_dict ------------------------------------


class _Affine(nn.Module):
    """A module written without parameters(): a Value, a list, a sub-module."""

    def __init__(self):
        V = pygrad.Value
        self.scale = V(2.0)
        self.name = "affine"                 # not a parameter
        self.offsets = [V(0.5), V(-0.5)]
        self.hidden = nn.Layer(2, 2)
        self.pair = (V(1.0), [V(3.0)])        # nested containers
        self.tied = self.scale                # the same Value again: listed once
        self.steps = 3

    def __call__(self, x):
        h = self.hidden(x)
        return pygrad.sum([self.scale * hi + oi for hi, oi in zip(h, self.offsets)]) * self.pair[0]


def test_default_parameters_find_values_lists_and_submodules(engine):
    m = _Affine()
    expected = [m.scale, *m.offsets, *m.hidden.parameters(), m.pair[0], m.pair[1][0]]
    assert [id(p) for p in m.parameters()] == [id(p) for p in expected]
    names = [name for name, _ in m.named_parameters()]
    assert names == ["scale", "offsets.0", "offsets.1"] + [
        f"hidden.neurons.{i}.{k}" for i in range(2) for k in ("w.0", "w.1", "b")] + ["pair.0", "pair.1.0"]
    # and training through them does something
    out = m([1.0, 2.0])
    m.zero_grad()
    out.backward()
    assert m.scale.grad != 0.0 and m.pair[0].grad != 0.0


def test_micrograd_style_overrides_keep_working(engine):
    class Mine(nn.Module):
        def __init__(self):
            self.a, self.b = pygrad.Value(1.0), pygrad.Value(2.0)

        def parameters(self):
            return [self.b]                   # the user's choice wins

    m = Mine()
    assert m.parameters() == [m.b]
    m.a.grad = m.b.grad = 5.0
    m.zero_grad()
    assert (m.a.grad, m.b.grad) == (5.0, 0.0)


def test_a_module_referring_to_itself_is_walked_once(engine):
    m = _Affine()
    m.hidden.parent = m
    m.again = [m.hidden, m.hidden]
    assert len(m.parameters()) == len(_Affine().parameters()) == 11


def test_named_parameters_agree_with_micrograd_parameters(engine):
    model = nn.MLP(2, [3, 1])
    assert [id(p) for _, p in model.named_parameters()] == [id(p) for p in model.parameters()]
    assert [n for n, _ in model.named_parameters()][:4] == [
        "layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b", "layers.0.neurons.1.w.0"]
    model([1.0, 2.0])                          # a Layer's fused call is not a parameter
    assert len(model.named_parameters()) == 13


def test_state_dict_round_trips_across_engines(run_on):
    def build():
        random.seed(4)
        return nn.MLP(2, [3, 1])

    c_model, py_model = run_on("c", build), run_on("python", build)
    for p in py_model.parameters():       # make them differ
        p.data = p.data * 3 + 1
    state = py_model.state_dict()
    assert all(type(v) is float for v in state.values())
    c_model.load_state_dict(state)
    assert bits(p.data for p in c_model.parameters()) == bits(p.data for p in py_model.parameters())
    assert repr(c_model([0.5, -2.0]).data) == repr(py_model([0.5, -2.0]).data)
    py_model.load_state_dict({k: v - 1.0 for k, v in c_model.state_dict().items()})
    assert py_model.parameters()[0].data == c_model.parameters()[0].data - 1.0


def bits(xs):
    return [repr(float(x)) for x in xs]


def test_load_state_dict_names_missing_and_unexpected_keys(engine):
    model = nn.MLP(2, [1])
    state = model.state_dict()
    before = bits(state.values())
    bad = dict(state)
    del bad["layers.0.neurons.0.b"]
    bad["layers.0.neurons.0.w.2"] = 1.0
    bad["layers.0.neurons.0.w.0"] = 7.0
    with pytest.raises(KeyError, match=r"missing keys: 'layers.0.neurons.0.b'; "
                                       r"unexpected keys: 'layers.0.neurons.0.w.2'"):
        model.load_state_dict(bad)
    with pytest.raises(TypeError, match="real numbers"):
        model.load_state_dict({**state, "layers.0.neurons.0.w.0": 7.0, "layers.0.neurons.0.b": "x"})
    assert bits(model.state_dict().values()) == before       # nothing changed on error
