"""Pickle, copy and deepcopy: Values keep data and grad (not the graph below
them), nn modules keep their structure and parameters, on both engines; a
model trained in a multiprocessing worker comes back intact."""
import copy
import multiprocessing
import pickle
import random

import pytest

import pygrad
from pygrad.nn import MLP, SingleLayerNeuron


@pytest.mark.parametrize("clone", [lambda v: pickle.loads(pickle.dumps(v)), copy.copy, copy.deepcopy],
                         ids=["pickle", "copy", "deepcopy"])
def test_a_value_round_trips_as_a_leaf(engine, clone):
    x = engine(1.5)
    y = (x * x).tanh()
    y.backward()
    for v in (x, y):
        c = clone(v)
        assert type(c) is engine
        assert (repr(c.data), repr(c.grad)) == (repr(v.data), repr(v.grad))
        assert c._prev == set() and c._op == ""
        c.data = 99.0           # an independent leaf
        assert v.data != 99.0


def _loss(model, points):
    return pygrad.sum([(1 - y * model(x)).relu() for x, y in points])


POINTS = [([0.5, -1.0], 1.0), ([-0.5, 1.0], -1.0), ([1.5, 0.25], 1.0)]


def _trained_mlp(steps):
    random.seed(7)
    model = MLP(2, [4, 4, 1])
    for _ in range(steps):
        loss = _loss(model, POINTS)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    return model


@pytest.mark.parametrize("clone", [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
def test_modules_keep_structure_parameters_and_outputs(engine, clone):
    model = _trained_mlp(3)
    model([1.0, 2.0])       # builds the Layer's fused plan, which must not be pickled
    twin = clone(model)
    assert repr(twin) == repr(model)
    assert [repr(p.data) for p in twin.parameters()] == [repr(p.data) for p in model.parameters()]
    assert [repr(p.grad) for p in twin.parameters()] == [repr(p.grad) for p in model.parameters()]
    assert repr(twin([1.0, 2.0]).data) == repr(model([1.0, 2.0]).data)
    twin.parameters()[0].data += 1.0      # the copy owns its own parameters
    assert twin.parameters()[0].data != model.parameters()[0].data


def test_the_tutorial_neuron_pickles(engine):
    n = SingleLayerNeuron(2)
    twin = pickle.loads(pickle.dumps(n))
    assert [w.data for w in twin.weights] == [0.09, 0.09] and twin.bias.data == -0.9


def _train_in_worker(name):
    pygrad.use_engine(name)
    return _trained_mlp(5)


def test_a_model_trained_in_a_worker_comes_back_intact(engine):
    ctx = multiprocessing.get_context("spawn")     # a fresh interpreter, its own C core
    with ctx.Pool(1) as pool:
        remote = pool.apply(_train_in_worker, (pygrad.get_engine(),))
    local = _trained_mlp(5)
    assert type(remote.parameters()[0]) is type(local.parameters()[0])
    assert [repr(p.data) for p in remote.parameters()] == [repr(p.data) for p in local.parameters()]
    assert repr(_loss(remote, POINTS).data) == repr(_loss(local, POINTS).data)
