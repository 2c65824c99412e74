"""pygrad.optim: SGD (with and without momentum) and Adam.

Each update is checked against its formula written out by hand in plain
floats, step by step; the C kernels (one call for all parameters) against
the Python loop, bitwise, on the same gradients (including NaN, inf, -0.0
and subnormals); zero_grad; and lists that are empty or mix the engines.
Bitwise equality is `repr(a) == repr(b)` (tells -0.0 from 0.0, NaN == NaN).
"""
import math
import random
from array import array

import pytest

from pygrad import nn, optim
from pygrad._engines import value_class

DATA = [1.0, -2.0, 0.5, 3.25]
# gradients for three steps, one list per step
GRADS = [[0.5, -1.0, 0.25, 0.0], [0.125, 2.0, -0.75, 1.5], [-0.3, 0.7, 1e-3, -4.0]]


def bits(xs):
    return [repr(float(x)) for x in xs]


def make_params(V, data=DATA):
    return [V(d) for d in data]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = g


def run_steps(opt, params, grads_per_step):
    """Give the params each step's grads and step; the data after each step."""
    history = []
    for grads in grads_per_step:
        set_grads(params, grads)
        opt.step()
        history.append([p.data for p in params])
    return history


# -- each rule against its formula ---------------------------------------------


def test_sgd_matches_the_formula(engine):
    params = make_params(engine)
    opt = optim.SGD(params, lr=0.1)
    expected, data = [], list(DATA)
    for grads in GRADS:
        data = [p - 0.1 * g for p, g in zip(data, grads)]
        expected.append(data)
    assert [bits(h) for h in run_steps(opt, params, GRADS)] == [bits(e) for e in expected]


def test_sgd_with_momentum_matches_the_formula(engine):
    params = make_params(engine)
    opt = optim.SGD(params, lr=0.05, momentum=0.9)
    expected, data, velocity = [], list(DATA), [0.0] * len(DATA)
    for grads in GRADS:
        velocity = [0.9 * v + g for v, g in zip(velocity, grads)]
        data = [p - 0.05 * v for p, v in zip(data, velocity)]
        expected.append(data)
    assert [bits(h) for h in run_steps(opt, params, GRADS)] == [bits(e) for e in expected]
    assert bits(opt.velocity[i] for i in range(len(DATA))) == bits(velocity)


def test_sgd_momentum_differs_from_plain_sgd(engine):
    # guards the test above: the momentum rule must actually be in use
    plain, heavy = make_params(engine), make_params(engine)
    run_steps(optim.SGD(plain, lr=0.05), plain, GRADS)
    run_steps(optim.SGD(heavy, lr=0.05, momentum=0.9), heavy, GRADS)
    assert bits(p.data for p in plain) != bits(p.data for p in heavy)


def test_adam_matches_the_formula(engine):
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-6
    params = make_params(engine)
    opt = optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps)
    expected, data = [], list(DATA)
    m, v = [0.0] * len(DATA), [0.0] * len(DATA)
    for t, grads in enumerate(GRADS, start=1):
        m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
        v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
        mhat = [mi / (1 - b1 ** t) for mi in m]
        vhat = [vi / (1 - b2 ** t) for vi in v]
        data = [p - lr * mh / (math.sqrt(vh) + eps) for p, mh, vh in zip(data, mhat, vhat)]
        expected.append(data)
    assert [bits(h) for h in run_steps(opt, params, GRADS)] == [bits(e) for e in expected]
    assert opt.t == len(GRADS)


def test_adam_first_step_moves_each_param_by_about_lr(engine):
    # Adam's signature: the first step is lr * sign(grad), whatever the scale of grad
    params = make_params(engine, [0.0, 0.0, 0.0])
    opt = optim.Adam(params, lr=0.001)
    set_grads(params, [1e-3, -50.0, 0.0])
    opt.step()
    assert params[0].data == pytest.approx(-0.001, rel=1e-4)
    assert params[1].data == pytest.approx(0.001, rel=1e-9)
    assert params[2].data == 0.0


def test_adam_defaults(engine):
    opt = optim.Adam(make_params(engine))
    assert (opt.lr, opt.beta1, opt.beta2, opt.eps, opt.t) == (0.001, 0.9, 0.999, 1e-8, 0)


def test_learning_rate_can_change_between_steps(engine):
    # moons.py decays lr by assigning opt.lr; the C kernels must read it each step
    p = engine(1.0)
    opt = optim.SGD([p], lr=0.5)
    p.grad = 1.0
    opt.step()
    opt.lr = 0.25
    opt.step()
    assert p.data == 1.0 - 0.5 - 0.25


def test_step_does_not_touch_grads(engine):
    params = make_params(engine)
    for opt in (optim.SGD(params, lr=0.1, momentum=0.5), optim.Adam(params)):
        set_grads(params, GRADS[0])
        opt.step()
        assert bits(p.grad for p in params) == bits(GRADS[0])


# -- zero_grad ---------------------------------------------------------------------


@pytest.mark.parametrize("make_opt", [lambda ps: optim.SGD(ps), lambda ps: optim.Adam(ps)], ids=["SGD", "Adam"])
def test_zero_grad_clears_only_its_own_params(engine, make_opt):
    params, other = make_params(engine), engine(7.0)
    set_grads(params, [1.0, -0.0, math.nan, math.inf])
    other.grad = 3.0
    make_opt(params).zero_grad()
    assert bits(p.grad for p in params) == bits([0.0] * len(params))
    assert other.grad == 3.0
    assert bits(p.data for p in params) == bits(DATA)


def test_nn_sgd_is_optim_sgd():
    assert nn.SGD is optim.SGD


# -- the C kernels against the Python loop -----------------------------------------

SPECIAL = [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, -1e-310, 1e308, -1e300, 1.0, 1e-20]


def random_grads(rng, n, steps):
    """Mostly ordinary numbers, some IEEE special values."""
    return [[rng.choice(SPECIAL) if rng.random() < 0.2 else rng.uniform(-10, 10) for _ in range(n)]
            for _ in range(steps)]


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.3),
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.3, momentum=0.7),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, betas=(0.85, 0.99), eps=1e-7),
}


def trajectory(name, make_opt, grads_per_step, python_loop=False, monkeypatch=None):
    """The param data after each step, for engine `name`; with python_loop
    the C engine's params are updated by the Python loop instead of the C kernels."""
    if python_loop:
        monkeypatch.setattr(optim, "_c_kernels", lambda params: None)
    V = value_class(name)
    rng = random.Random(7)
    params = make_params(V, [rng.uniform(-3, 3) for _ in grads_per_step[0]])
    opt = make_opt(params)
    assert (opt._c is not None) == (name == "c" and not python_loop)   # the path under test
    return [bits(h) for h in run_steps(opt, params, grads_per_step)]


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
@pytest.mark.parametrize("seed", range(5))
def test_c_kernels_equal_the_python_loop_bitwise(opt_name, seed, monkeypatch):
    pytest.importorskip("pygrad.cengine")
    grads = random_grads(random.Random(seed), n=40, steps=6)
    kernels = trajectory("c", OPTIMIZERS[opt_name], grads)
    assert kernels == trajectory("python", OPTIMIZERS[opt_name], grads)
    assert kernels == trajectory("c", OPTIMIZERS[opt_name], grads, python_loop=True, monkeypatch=monkeypatch)


@pytest.mark.parametrize("shared_moments", [False, True], ids=["own moments", "m is v"])
def test_adam_in_chunks_equals_the_python_loop_bitwise(shared_moments, monkeypatch):
    """C's Adam goes through its params in chunks of 256, two at a time:
    517 params (three chunks, an odd tail), special grads, each param
    listed once and a few twice; and moments that are one array (m is v:
    each update reads the other's), which take the one-at-a-time path
    (grads >= 0 there, so that the moments stay >= 0)."""
    pytest.importorskip("pygrad.cengine")
    grads = random_grads(random.Random(11), n=517, steps=4)
    if shared_moments:   # (a negative moment's square root is a domain error in the Python loop)
        grads = [[abs(g) for g in step] for step in grads]
    results = []
    for name, python_loop in (("c", False), ("python", False), ("c", True)):
        if python_loop:
            monkeypatch.setattr(optim, "_c_kernels", lambda params: None)
        V = value_class(name)
        rng = random.Random(3)
        params = make_params(V, [rng.uniform(-3, 3) for _ in range(517)])
        listed = params + params[5:300:7]
        opt = optim.Adam(listed, lr=0.01, betas=(0.85, 0.99), eps=1e-7)
        assert (opt._c is not None) == (name == "c" and not python_loop)
        if shared_moments:
            opt.v = opt.m
        history = []
        for step in grads:
            set_grads(params, step)
            opt.step()
            history.append(bits(p.data for p in params) + bits(opt.m) + bits(opt.v))
        results.append(history)
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_a_param_listed_twice_is_updated_twice_on_both_paths(opt_name):
    pytest.importorskip("pygrad.cengine")
    results = []
    for name, python_loop in (("c", False), ("python", False), ("c", True)):
        V = value_class(name)
        p, q = V(1.0), V(-1.0)
        opt = OPTIMIZERS[opt_name]([p, q, p])
        if python_loop:
            opt._c = None    # the Python loop, on C Values
        p.grad, q.grad = 0.5, 2.0
        opt.step()
        opt.step()
        results.append(bits([p.data, q.data]))
    assert results[0] == results[1] == results[2]
    single = OPTIMIZERS[opt_name]([value_class("python")(1.0)])
    single.params[0].grad = 0.5
    single.step()
    single.step()
    assert results[0][0] != repr(single.params[0].data)   # p really took two updates per step


# -- unusual parameter lists ---------------------------------------------------------


@pytest.mark.parametrize("make", [optim.SGD, optim.Adam], ids=["SGD", "Adam"])
def test_bad_arguments_raise_as_in_torch(engine, make):
    p = engine(1.0)
    with pytest.raises(ValueError, match="empty parameter list"):
        make([])
    with pytest.raises(ValueError, match="empty parameter list"):
        make(q for q in [])
    for lr in (-0.1, math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="invalid learning rate"):
            make([p], lr=lr)
    with pytest.raises(TypeError, match="real number"):
        make([p], lr="0.1")
    with pytest.raises(TypeError, match="not one Value"):
        make(p)
    with pytest.raises(TypeError, match="not float"):
        make([p, 2.0])
    opt = make([p], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate"):
        opt.lr = -1.0
    assert opt.lr == 0.1                      # the refused value did not stick


def test_bad_hyperparameters_raise(engine):
    p = engine(1.0)
    with pytest.raises(ValueError, match="invalid momentum"):
        optim.SGD([p], momentum=-0.5)
    for betas in ((1.0, 0.9), (0.9, -0.1), (0.9, math.nan)):
        with pytest.raises(ValueError, match="invalid beta"):
            optim.Adam([p], betas=betas)
    with pytest.raises(ValueError, match="invalid eps"):
        optim.Adam([p], eps=-1e-8)


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_params_cannot_change_under_the_optimizer(engine, opt_name):
    # Changing the list an optimizer steps must not leave it stepping the
    # old parameters (on the C engine: node ids that may be reused).
    params = make_params(engine)
    opt = OPTIMIZERS[opt_name](params)
    assert type(opt.params) is tuple
    with pytest.raises(AttributeError, match="make a new optimizer"):
        opt.params = [engine(5.0)]
    with pytest.raises(TypeError):
        opt.params[0] = engine(5.0)       # type: ignore[index]
    params.append(engine(100.0))          # the caller's list is not the optimizer's
    set_grads(params, [1.0] * len(params))
    opt.step()
    assert params[-1].data == 100.0 and all(p.data != d for p, d in zip(params, DATA))


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_mixed_engines_take_the_python_path_and_update_both(opt_name):
    pytest.importorskip("pygrad.cengine")
    C, Ref = value_class("c"), value_class("python")
    mixed = [C(1.0), Ref(1.0), C(-2.0), Ref(-2.0)]
    opt = OPTIMIZERS[opt_name](mixed)
    assert opt._c is None
    for grads in ([0.5, 0.5, -1.0, -1.0], [0.25, 0.25, 3.0, 3.0]):
        set_grads(mixed, grads)
        opt.step()
    # a C param and a reference param with the same history end at the same bits
    assert bits([mixed[0].data, mixed[2].data]) == bits([mixed[1].data, mixed[3].data])
    assert mixed[0].data != 1.0 and mixed[2].data != -2.0    # both really stepped
    opt.zero_grad()
    assert [p.grad for p in mixed] == [0.0] * 4


def test_param_list_is_copied_and_generators_work(engine):
    params = make_params(engine)
    opt = optim.SGD((p for p in params), lr=1.0)
    params.append(engine(100.0))      # not the optimizer's
    set_grads(params, [1.0] * len(params))
    opt.step()
    assert [p.data for p in params] == [d - 1.0 for d in DATA] + [100.0]


def test_optimizer_drives_an_mlp_on_both_engines_identically(run_on):
    # the usual loop: eager forward/backward, optimizer step (C kernels on C)
    def train():
        random.seed(11)
        model = nn.MLP(2, [4, 1])
        opt = optim.Adam(model.parameters(), lr=0.05)
        losses = []
        for _ in range(5):
            loss = sum((model([a, b]) - t) ** 2 for a, b, t in ((0.5, -1.0, 1.0), (-0.25, 2.0, -1.0)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.data)
        return bits(losses) + bits(p.data for p in model.parameters())

    c, py = run_on("c", train), run_on("python", train)
    assert c == py
    assert float(c[4]) < float(c[0])      # and it learns


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_state_of_the_wrong_length_is_refused(engine, opt_name):
    params = make_params(engine)
    opt = OPTIMIZERS[opt_name](params)
    short = array("d", [0.0])
    if opt_name == "adam":
        opt.m = short
    else:
        opt.velocity = short
    with pytest.raises(ValueError, match="state has 1 entries for 4 parameters"):
        opt.step()
    assert bits(p.data for p in params) == bits(DATA)       # nothing stepped


@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_subclassed_params_step_like_plain_ones(engine, opt_name):
    class Param(engine):
        pass

    plain, sub = make_params(engine), make_params(Param)
    opt = OPTIMIZERS[opt_name](sub)
    assert (opt._c is not None) == (engine is value_class("c"))    # C kernels for subclasses too
    assert run_steps(opt, sub, GRADS) == run_steps(OPTIMIZERS[opt_name](plain), plain, GRADS)
