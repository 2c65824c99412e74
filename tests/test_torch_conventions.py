"""torch's conventions, with torch's names, against torch itself.

Each piece is run on the same problem in pygrad (both engines) and in torch
(float64, CPU) and compared to 1e-12: optimizers with weight decay
(coupled in SGD and Adam, decoupled in AdamW) and frozen parameters, the
optimizers' state_dict, StepLR and CosineAnnealingLR, softmax, log_softmax,
cross_entropy and clip_grad_norm_. The C optimizer steps are compared with
the reference engine's Python loop bitwise (`repr(a) == repr(b)`).

Importing torch takes seconds, so the comparisons with torch are marked
slow (CI installs torch 2.13.0 and runs them); the rest run by default.
"""
import math
import pickle
import sys

import pytest

import pygrad
from pygrad import nn, optim
from pygrad.optim import lr_scheduler


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# a small regression problem: y = tanh(a * x + b) * c + d, four scalar params
START = [0.3, -0.2, 0.8, 0.1]
XS = [-1.5, -0.5, 0.25, 1.0, 2.0]
YS = [-0.9, -0.1, 0.4, 0.7, 1.1]
STEPS = 12

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.3)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.2)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.5)),
]


def loss_of(a, b, c, d, tanh):
    total = 0.0
    for x, y in zip(XS, YS):
        total = total + (tanh(a * x + b) * c + d - y) ** 2
    return total * (1.0 / len(XS))


def train_pygrad(name, kwargs, frozen=(), steps=STEPS):
    """Each step's params after optim.<name>(**kwargs), on the active engine."""
    params = [pygrad.Value(s) for s in START]
    for i in frozen:
        params[i].requires_grad = False
    opt = getattr(optim, name)(params, **kwargs)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss_of(*params, tanh=lambda v: v.tanh()).backward()
        opt.step()
        history.append([p.data for p in params])
    return history, opt


def train_torch(torch, name, kwargs, frozen=(), steps=STEPS):
    params = [torch.tensor(s, dtype=torch.float64, requires_grad=i not in frozen) for i, s in enumerate(START)]
    opt = getattr(torch.optim, name)([p for p in params if p.requires_grad], **kwargs)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss_of(*params, tanh=torch.tanh).backward()
        opt.step()
        history.append([p.item() for p in params])
    return history, opt


def close(a, b, tol=1e-12):
    return all(abs(x - y) <= tol * max(1.0, abs(y)) for x, y in zip(a, b))


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_optimizers_match_torch(engine, torch, name, kwargs):
    ours, _ = train_pygrad(name, kwargs)
    theirs, _ = train_torch(torch, name, kwargs)
    assert ours[0] != [*START]                      # they moved
    for step_ours, step_theirs in zip(ours, theirs):
        assert close(step_ours, step_theirs), (step_ours, step_theirs)


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_frozen_params_are_left_alone_as_torch_does(engine, torch, name, kwargs):
    ours, opt = train_pygrad(name, kwargs, frozen=(1, 3))
    theirs, _ = train_torch(torch, name, kwargs, frozen=(1, 3))
    assert [h[1] for h in ours] == [START[1]] * STEPS and [h[3] for h in ours] == [START[3]] * STEPS
    for step_ours, step_theirs in zip(ours, theirs):
        assert close(step_ours, step_theirs), (step_ours, step_theirs)
    state = opt.state_dict()["state"]               # and their state never moved
    assert all(v == 0.0 for i in (1, 3) for k, v in state[i].items() if k != "step")


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_c_steps_equal_the_python_spec_bitwise(run_on, name, kwargs):
    runs = [run_on(e, train_pygrad, name, kwargs, (2,)) for e in ("c", "python")]
    assert repr(runs[0][0]) == repr(runs[1][0])
    assert type(runs[0][1]._c).__name__ == "ParamKernels" and runs[1][1]._c is None   # C did run


def test_thawing_a_param_makes_the_next_step_move_it(engine):
    params = [engine(1.0), engine(2.0)]
    opt = optim.SGD(params, lr=0.5)
    params[0].requires_grad = False
    for p in params:
        p.grad = 1.0
    opt.step()
    assert [p.data for p in params] == [1.0, 1.5]
    params[0].requires_grad = True                  # seen without making a new optimizer
    opt.step()
    assert [p.data for p in params] == [0.5, 1.0]


def test_requires_grad_is_a_leaf_bool(engine):
    x = engine(2.0)
    assert x.requires_grad is True
    with pytest.raises(TypeError, match="True or False"):
        x.requires_grad = 0
    with pytest.raises(ValueError, match="leaf"):
        (x * 3).requires_grad = False
    x.requires_grad = False
    assert pickle.loads(pickle.dumps(x)).requires_grad is False     # kept, as the user's attributes are


def test_compile_reads_a_frozen_param_as_a_constant(engine):
    pytest.importorskip("numpy")
    w, b, x = engine(2.0), engine(0.5), engine(0.0)
    b.requires_grad = False
    strict = sys.implementation.name != "pypy" or pygrad.get_engine() == "c"   # (the reference needs refcounts)
    prog = pygrad.compile(w * x + b, inputs=[x], params=[w, b], strict=strict)   # strict: b is not an error
    assert prog.params == [w]
    out = prog.accumulate([[1.0], [3.0]])
    assert out.tolist() == [2.5, 6.5] and (w.grad, b.grad) == (4.0, 0.0)
    b.data = 1.5                                     # a constant is read at each run
    assert prog.forward_batch([[1.0]]).tolist() == [3.5]


# -- state_dict ------------------------------------------------------------


def train_and_save(name, kwargs, steps=3):
    """The params after `steps` steps, and the optimizer's state_dict, as plain data."""
    history, opt = train_pygrad(name, kwargs, steps=steps)
    return history[-1], pickle.loads(pickle.dumps(opt.state_dict()))


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_state_dict_resumes_bitwise(engine, name, kwargs):
    whole, _ = train_pygrad(name, kwargs, steps=6)
    data, saved = train_and_save(name, kwargs)
    params = [pygrad.Value(x) for x in data]
    resumed = getattr(optim, name)(params, lr=123.0)
    resumed.load_state_dict(saved)
    for _ in range(3):
        resumed.zero_grad()
        loss_of(*params, tanh=lambda v: v.tanh()).backward()
        resumed.step()
    assert repr([p.data for p in params]) == repr(whole[-1])


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS[2::2])
def test_state_dict_moves_between_engines(run_on, name, kwargs):
    whole, _ = run_on("c", train_pygrad, name, kwargs, (), 6)
    data, saved = run_on("c", train_and_save, name, kwargs)

    def resume():
        params = [pygrad.Value(x) for x in data]
        opt = getattr(optim, name)(params)
        opt.load_state_dict(saved)
        for _ in range(3):
            opt.zero_grad()
            loss_of(*params, tanh=lambda v: v.tanh()).backward()
            opt.step()
        return [p.data for p in params]
    assert repr(run_on("python", resume)) == repr(whole[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_state_dict_matches_torchs(engine, torch, name, kwargs):
    _, saved = train_and_save(name, kwargs)
    _, topt = train_torch(torch, name, kwargs, steps=3)
    tstate = topt.state_dict()
    assert {k: v for k, v in tstate["param_groups"][0].items() if k in saved["param_groups"][0]} == \
        saved["param_groups"][0]
    for i in range(len(START)):
        for key, value in saved["state"][i].items():
            theirs = tstate["state"].get(i, {}).get(key)
            if theirs is None:                      # torch keeps no momentum buffer without momentum
                assert value == 0.0
            else:
                assert close([value], [float(theirs)]), (key, value, theirs)


def test_load_state_dict_refuses_another_optimizers_state_and_changes_nothing(engine):
    params = [engine(1.0), engine(2.0)]
    adam = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = 1.0
    adam.step()
    before = repr(adam.state_dict())
    bad = [optim.SGD(params, momentum=0.9).state_dict(),                      # other keys
           optim.Adam(params + [engine(3.0)]).state_dict(),                  # other size
           {"state": {}, "param_groups": []}, {}]
    broken = adam.state_dict()
    broken["state"][1]["exp_avg"] = math.nan
    broken["param_groups"][0]["lr"] = 0.5          # set before the bad number is met
    for sd in bad + [broken]:
        with pytest.raises(ValueError, match="not this optimizer's state"):
            adam.load_state_dict(sd)
    assert repr(adam.state_dict()) == before


# -- schedulers ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=3, gamma=0.5)),
                                         ("StepLR", dict(step_size=1)),
                                         ("CosineAnnealingLR", dict(T_max=5)),
                                         ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01))])
def test_schedulers_give_torchs_rates(engine, torch, name, kwargs):
    opt = optim.SGD([engine(1.0)], lr=0.1)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ours = getattr(lr_scheduler, name)(opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert ours.get_last_lr() == theirs.get_last_lr() == [0.1]
    rates = []
    for _ in range(25):                             # past T_max: the cosine rises again
        opt.step()
        topt.step()
        ours.step()
        theirs.step()
        rates.append(opt.lr)
        assert repr(ours.get_last_lr()) == repr(theirs.get_last_lr()) == repr([opt.lr])
    assert len(set(rates)) > 2


def test_schedulers_refuse_bad_arguments(engine):
    opt = optim.SGD([engine(1.0)], lr=0.1)
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=2.5)
    with pytest.raises(TypeError, match="optimizer"):
        lr_scheduler.StepLR([engine(1.0)], step_size=2)


# -- softmax, log_softmax, cross_entropy -----------------------------------

LOGITS = [[0.5, -1.25, 2.0, 0.0], [1000.0, 999.0, -1000.0], [-3.0], [1e-3, 2e-3]]


def grads_of(engine, fn, logits, weights):
    """The values of fn(logits) and the grads of sum(w * out) w.r.t. logits."""
    xs = [engine(v) for v in logits]
    out = fn(xs)
    out = out if isinstance(out, list) else [out]
    pygrad.sum([w * o for w, o in zip(weights, out)]).backward()
    return [o.data for o in out], [x.grad for x in xs]


def torch_grads_of(torch, fn, logits, weights):
    t = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    out = fn(t).reshape(-1)
    (torch.tensor(weights[:len(out)], dtype=torch.float64) * out).sum().backward()
    return out.tolist(), t.grad.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("logits", LOGITS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax_match_torch(engine, torch, logits, name):
    weights = [1.0, -2.0, 0.5, 3.0][:len(logits)]
    got = grads_of(engine, getattr(nn, name), logits, weights)
    want = torch_grads_of(torch, lambda t: getattr(torch.nn.functional, name)(t, dim=0), logits, weights)
    assert all(map(math.isfinite, got[0] + got[1]))      # 1000 does not overflow exp
    assert close(got[0], want[0]) and close(got[1], want[1]), (got, want)


@pytest.mark.slow
@pytest.mark.parametrize("logits", LOGITS)
def test_cross_entropy_matches_torch(engine, torch, logits):
    for target in range(len(logits)):
        got = grads_of(engine, lambda xs, k=target: nn.cross_entropy(xs, k), logits, [1.0])
        want = torch_grads_of(torch, lambda t, k=target: torch.nn.functional.cross_entropy(t, torch.tensor(k)),
                              logits, [1.0])
        assert close(got[0], want[0]) and close(got[1], want[1]), (target, got, want)


def test_cross_entropy_compiles_with_the_target_as_an_input(engine):
    np = pytest.importorskip("numpy")
    xs, target = [engine(0.0) for _ in range(3)], engine(0.0)
    prog = pygrad.compile(nn.cross_entropy(xs, target), inputs=xs + [target])
    rows = [[0.5, -1.0, 2.0, 2], [1000.0, 999.0, -1000.0, 0], [0.0, 0.0, 0.0, 1]]
    eager = [nn.cross_entropy([engine(v) for v in r[:3]], int(r[3])).data for r in rows]
    assert repr(prog.forward_batch(np.array(rows)).tolist()) == repr(eager)


def test_softmax_family_refuses_empty_input_and_bad_targets(engine):
    for fn in (nn.softmax, nn.log_softmax, lambda xs: nn.cross_entropy(xs, 0)):
        with pytest.raises(ValueError, match="at least one value"):
            fn([])
    with pytest.raises(IndexError):
        nn.cross_entropy([engine(1.0), engine(2.0)], 2)


# -- clip_grad_norm_ -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("grads,max_norm,norm_type", [([3.0, -4.0, 12.0], 1.0, 2.0), ([0.1, 0.2], 5.0, 2.0),
                                                      ([3.0, -4.0, 1.0], 2.0, math.inf), ([0.0, 0.0], 1.0, 2.0)])
def test_clip_grad_norm_matches_torch(engine, torch, grads, max_norm, norm_type):
    params = [engine(1.0) for _ in grads]
    for p, g in zip(params, grads):
        p.grad = g
    total = nn.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    tparams = [torch.tensor(1.0, dtype=torch.float64, requires_grad=True) for _ in grads]
    for p, g in zip(tparams, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert close([total], [ttotal.item()])
    assert close([p.grad for p in params], [p.grad.item() for p in tparams])


def test_clip_grad_norm_leaves_frozen_params_out(engine):
    a, b = engine(1.0), engine(1.0)
    a.grad, b.grad = 3.0, 4.0
    b.requires_grad = False
    assert nn.clip_grad_norm_([a, b], 1.0) == 3.0
    assert b.grad == 4.0 and abs(a.grad - 1.0) < 1e-6
    with pytest.raises(ValueError, match="norm_type"):
        nn.clip_grad_norm_([a], 1.0, norm_type=1.5)
    with pytest.raises(TypeError, match="pygrad Values"):
        nn.clip_grad_norm_([1.0], 1.0)


def test_weight_decay_is_checked(engine):
    for cls in (optim.SGD, optim.Adam, optim.AdamW):
        with pytest.raises(ValueError, match="weight_decay"):
            cls([engine(1.0)], weight_decay=-0.1)
        with pytest.raises(TypeError, match="weight_decay"):
            cls([engine(1.0)], weight_decay="0.1")
