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
    model([1.0, 2.0])       # makes the Layer's fused call, which must not be pickled
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


# -- checkpoints: a model and its optimizer together -----------------------------------

OPTIMIZERS = {
    "sgd-momentum": lambda ps: pygrad.optim.SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: pygrad.optim.Adam(ps, lr=0.02, betas=(0.8, 0.95)),
}
CLONES = {"pickle": lambda x: pickle.loads(pickle.dumps(x)), "deepcopy": copy.deepcopy}


def _steps(model, opt, n):
    losses = []
    for _ in range(n):
        loss = _loss(model, POINTS)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(repr(loss.data))
    return losses + [repr(p.data) for p in model.parameters()]


def _fresh(opt_name):
    random.seed(3)
    model = MLP(2, [4, 4, 1])
    return model, OPTIMIZERS[opt_name](model.parameters())


@pytest.mark.parametrize("clone", CLONES)
@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_a_checkpoint_resumes_exactly_as_an_uninterrupted_run(engine, opt_name, clone):
    model, opt = _fresh(opt_name)
    uninterrupted = _steps(model, opt, 6)

    model, opt = _fresh(opt_name)
    first = _steps(model, opt, 3)
    model([1.0, 2.0])                                   # a Layer's fused call exists
    restored_model, restored_opt = CLONES[clone]((model, opt))
    del model, opt
    assert [id(p) for p in restored_opt.params] == [id(p) for p in restored_model.parameters()]
    assert (restored_opt._c is not None) == (pygrad.get_engine() == "c")     # the fast path is back
    second = _steps(restored_model, restored_opt, 3)
    assert first[:3] + second == uninterrupted         # 6 losses, then the final parameters
    if opt_name == "adam":
        assert restored_opt.t == 6


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_a_copied_optimizer_steps_its_own_copies(engine, opt_name):
    params = [engine(1.0), engine(-2.0)]
    opt = OPTIMIZERS[opt_name](params)
    for p in params:
        p.grad = 0.5
    opt.step()
    twin = copy.deepcopy(opt)
    assert [repr(p.data) for p in twin.params] == [repr(p.data) for p in params]
    twin.step()
    twin.step()
    assert [p.data for p in params] != [p.data for p in twin.params]    # originals untouched
    opt.step()
    opt.step()
    assert [repr(p.data) for p in params] == [repr(p.data) for p in twin.params]  # same state, same steps


# -- subclasses: a copy restores state, it does not call __init__ again -------------

def _subclasses(V):
    """Subclasses of engine class V as users write them (made per engine, and
    named in this module so that pickle can find them)."""
    class Scaled(V):
        def __init__(self, x):
            super().__init__(10 * x)

    class Named(V):             # a required argument
        def __init__(self, x, name):
            super().__init__(x)
            self.name = name

    class Slotted(V):           # attributes in __slots__, a private one included
        __slots__ = ("m", "__v")

        def set_v(self, v):
            self.__v = v

        def get_v(self):
            return self.__v

    made = {}
    for cls in (Scaled, Named, Slotted):
        cls.__name__ = cls.__qualname__ = f"{cls.__name__}_{V.__module__.rsplit('.', 1)[1]}"
        globals()[cls.__name__] = made[cls.__name__.split("_")[0]] = cls
    return made


SUBCLASSES = {name: _subclasses(pygrad.value_class(name)) for name in ("c", "python")}
CLONE_ANY = {"pickle": lambda v: pickle.loads(pickle.dumps(v)), "copy": copy.copy, "deepcopy": copy.deepcopy,
             "pickle-protocol-0": lambda v: pickle.loads(pickle.dumps(v, protocol=0))}


@pytest.mark.parametrize("clone", CLONE_ANY)
def test_a_subclass_copy_keeps_its_data_without_calling_init(engine, clone):
    cls = SUBCLASSES[pygrad.get_engine()]["Scaled"]
    v = cls(1.5)
    assert v.data == 15.0
    v.grad, v.label = -0.5, "s"
    c = CLONE_ANY[clone](v)
    assert type(c) is cls and c is not v
    assert (repr(c.data), repr(c.grad), c.label) == ("15.0", "-0.5", "s")
    assert repr((c * 2).data) == "30.0"


@pytest.mark.parametrize("clone", CLONE_ANY)
def test_a_subclass_with_a_required_argument_copies(engine, clone):
    v = SUBCLASSES[pygrad.get_engine()]["Named"](2.5, "w0")
    c = CLONE_ANY[clone](v)
    assert (c.data, c.name, type(c)) == (2.5, "w0", type(v))


@pytest.mark.parametrize("clone", CLONE_ANY)
def test_slot_attributes_are_copied(engine, clone):
    v = SUBCLASSES[pygrad.get_engine()]["Slotted"](0.75)
    v.m = [1.0, 2.0]
    v.set_v(3.0)
    c = CLONE_ANY[clone](v)
    assert (c.data, c.m, c.get_v()) == (0.75, [1.0, 2.0], 3.0)
    assert (c.m is v.m) == (clone == "copy")      # a shallow copy shares, the others do not
    unset = SUBCLASSES[pygrad.get_engine()]["Slotted"](1.0)
    c = CLONE_ANY[clone](unset)                   # an unset slot stays unset
    assert not hasattr(c, "m") and c.data == 1.0


# Pickles of a Value with grad -0.25, label 'w' and an attribute m = 2.0,
# as pygrad's first format wrote them (protocol 2): they still load.
OLD_PICKLES = {
    "c": b'\x80\x02cpygrad._api\n_rebuild\nq\x00(cpygrad.cengine\nValue\nq\x01G?\xf8\x00\x00\x00\x00\x00\x00G'
         b'\xbf\xd0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00wq\x02tq\x03Rq\x04}q\x05X\x01\x00\x00\x00mq\x06G@'
         b'\x00\x00\x00\x00\x00\x00\x00sb.',
    "python": b'\x80\x02cpygrad._api\n_rebuild\nq\x00(cpygrad.reference\nValue\nq\x01G?\xf8\x00\x00\x00\x00\x00'
              b'\x00G\xbf\xd0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00wq\x02tq\x03Rq\x04}q\x05(X\x05\x00\x00\x00'
              b'labelq\x06h\x02X\x01\x00\x00\x00mq\x07G@\x00\x00\x00\x00\x00\x00\x00ub.',
}


def test_pickles_of_the_first_format_still_load(engine):
    v = pickle.loads(OLD_PICKLES[pygrad.get_engine()])
    assert type(v) is engine
    assert (repr(v.data), repr(v.grad), v.label, v.m) == ("1.5", "-0.25", "w", 2.0)
    assert v._prev == set() and repr((v * 2).data) == "3.0"
