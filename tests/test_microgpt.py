"""examples/microgpt.py against microgpt's own arithmetic.

The example's model runs with a small pure-Python Value written here in
microgpt's style (children plus local gradients, division as `x * y**-1`)
and an Adam loop written here as microgpt writes it; its losses must match
the example's run on each pygrad engine to 1e-9 relative, step by step.
"""
import importlib.util
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pygrad

C, Ref = pygrad.value_class("c"), pygrad.value_class("python")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "microgpt.py"
DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "liam", "noah", "x", "charlotte"]
STEPS = 4


def load_example():
    spec = importlib.util.spec_from_file_location("microgpt_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class OwnValue:
    """microgpt-style scalar: every op records its children and local gradients."""

    def __init__(self, data, children=(), local_grads=()):
        self.data, self.grad = data, 0.0
        self._children, self._local_grads = children, local_grads

    def __add__(self, other):
        other = other if isinstance(other, OwnValue) else OwnValue(other)
        return OwnValue(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, OwnValue) else OwnValue(other)
        return OwnValue(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, k):
        return OwnValue(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def log(self):
        return OwnValue(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        e = math.exp(self.data)
        return OwnValue(e, (self,), (e,))

    def relu(self):
        return OwnValue(max(0.0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def backward(self):
        topo, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for c in v._children:
                    visit(c)
                topo.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(topo):
            for c, local in zip(v._children, v._local_grads):
                c.grad += local * v.grad


def own_losses(mg, steps):
    """The example's model on OwnValue, trained by microgpt's own Adam loop."""
    docs, tok, model = mg.setup(DOCS, OwnValue)
    lr, (b1, b2), eps = mg.LEARNING_RATE, mg.BETAS, mg.EPS
    m, v = [0.0] * len(model.params), [0.0] * len(model.params)
    losses = []
    for step in range(steps):
        loss = model.loss(tok.encode(docs[step % len(docs)]))
        loss.backward()
        lr_t = lr * (1 - step / steps)
        for i, p in enumerate(model.params):
            m[i] = b1 * m[i] + (1 - b1) * p.grad
            v[i] = b2 * v[i] + (1 - b2) * p.grad ** 2
            m_hat, v_hat = m[i] / (1 - b1 ** (step + 1)), v[i] / (1 - b2 ** (step + 1))
            p.data -= lr_t * m_hat / (v_hat ** 0.5 + eps)
            p.grad = 0
        losses.append(loss.data)
    return losses


@pytest.mark.slow
def test_losses_match_microgpts_own_value(engine):
    mg = load_example()
    docs, tok, model = mg.setup(DOCS, engine)
    ours, _ = mg.train(model, tok, docs, STEPS, log=lambda line: None)
    theirs = own_losses(mg, STEPS)
    assert len(ours) == STEPS
    for a, b in zip(ours, theirs):
        assert a == pytest.approx(b, rel=1e-9, abs=0)
    assert len(set(ours)) == STEPS   # a real run: each step's loss differs


@pytest.mark.slow
def test_engines_agree_bitwise():
    mg = load_example()
    runs = []
    for V in (C, Ref):
        docs, tok, model = mg.setup(DOCS, V)
        runs.append(mg.train(model, tok, docs, 2, log=lambda line: None)[0])
    assert [repr(x) for x in runs[0]] == [repr(x) for x in runs[1]]


def test_cli_prints_steps_and_samples(tmp_path, engine):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(DOCS) + "\n")
    out = subprocess.run([sys.executable, str(EXAMPLE), "--steps", "2", "--data", str(data),
                          "--samples", "2", "--engine", pygrad.get_engine()],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    step_lines = [line for line in out if line.startswith("step")]
    assert [line.split("|")[0].split() for line in step_lines] == [["step", "1", "/", "2"], ["step", "2", "/", "2"]]
    assert all(re.search(r"\| loss \d+\.\d{12}$", line) for line in step_lines)
    assert any(line.startswith("training: ") and line.endswith(" ms/step") for line in out)
    assert sum(line.startswith("sample") for line in out) == 2


def test_sampling_is_deterministic_after_seed(engine):
    mg = load_example()
    docs, tok, model = mg.setup(DOCS, engine)
    random.seed(7)
    names = [model.sample(tok) for _ in range(3)]
    random.seed(7)
    assert [model.sample(tok) for _ in range(3)] == names
    assert all(set(n) <= set(tok.chars) and len(n) <= mg.BLOCK_SIZE for n in names)


def test_default_data_is_the_names_package():
    pytest.importorskip("names")
    mg = load_example()
    docs = mg.load_docs()
    assert docs == sorted(set(docs)) and all(d == d.lower() and d.isalpha() for d in docs)
    assert "mary" in docs and "james" in docs and len(docs) > 4000



@pytest.mark.slow
def test_compiled_training_equals_eager(engine):
    """--compiled: the loss traced per document length (select for token
    ids, max_data for softmax's shift) and replayed gives the eager run's
    losses and parameters step by step to 1e-12. (Not always bit for bit:
    the compiled graph reaches all of softmax's outputs through select and
    max_data, so its backward may add some gradients in another order.)"""
    mg = load_example()
    docs = DOCS * 2                      # lengths repeat: programs are replayed
    runs = []
    for model_class, compiled in ((mg.GPT, False), (mg.CompiledGPT, True)):
        d, tok, model = mg.setup(docs, engine, model_class)
        losses, _ = mg.train(model, tok, d, 12, compiled=compiled, log=lambda line: None)
        runs.append((losses, [p.data for p in model.params]))
    assert runs[1][0] == pytest.approx(runs[0][0], rel=1e-12, abs=0)
    assert runs[1][1] == pytest.approx(runs[0][1], rel=1e-10, abs=1e-15)
    assert runs[1][0][:6] == runs[0][0][:6]     # bitwise while the orders agree


def test_compiled_model_samples_like_the_eager_one(engine):
    mg = load_example()
    names = []
    for model_class in (mg.GPT, mg.CompiledGPT):
        docs, tok, model = mg.setup(DOCS, engine, model_class)
        random.seed(3)
        names.append([model.sample(tok) for _ in range(4)])
    assert names[0] == names[1]
