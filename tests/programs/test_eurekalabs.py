"""EurekaLabs' micrograd style: a user's own MLP classes over Value, a
visualisation pass that tags Values with attributes of its own
(`v._vis_color`), and a hand-written AdamW that keeps its moments on each
parameter (`p.m`, `p.v`); three-class cross-entropy through exp and log.
Both engines against the reference Value, step by step."""
import random
import weakref

import pytest

from .reference import Value as Ref

POINTS = [([0.5, -1.0], 0), ([1.5, 0.2], 1), ([-0.7, 0.9], 2), ([0.1, 0.4], 1), ([-1.2, -0.3], 2), ([0.9, -0.8], 0)]


def program(Value, steps=6):
    """The user's program; only `Value` changes. Returns losses and final weights."""
    random.seed(3)

    class Neuron:
        def __init__(self, nin, nonlin=True):
            self.w = [Value(random.uniform(-1, 1) * nin ** -0.5) for _ in range(nin)]
            self.b = Value(0.0)
            self.nonlin = nonlin

        def __call__(self, x):
            act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
            return act.tanh() if self.nonlin else act

        def parameters(self):
            return self.w + [self.b]

    class MLP:
        def __init__(self, nin, nouts):
            sizes = [nin] + nouts
            self.layers = [[Neuron(sizes[i], nonlin=i < len(nouts) - 1) for _ in range(sizes[i + 1])]
                           for i in range(len(nouts))]

        def __call__(self, x):
            for layer in self.layers:
                x = [n(x) for n in layer]
            return x

        def parameters(self):
            return [p for layer in self.layers for n in layer for p in n.parameters()]

    def cross_entropy(logits, target):
        top = max(v.data for v in logits)
        exps = [(v - top).exp() for v in logits]
        return -(exps[target] / sum(exps)).log()

    def color_graph(root):
        """The visualisation pass: tag every node by what it is."""
        seen, stack = {}, [root]
        while stack:
            v = stack.pop()
            if id(v) not in seen:
                seen[id(v)] = v
                v._vis_color = "lightblue" if v._prev else "white"
                stack.extend(v._prev)
        return sorted(v._vis_color for v in seen.values()).count("lightblue")

    class AdamW:
        def __init__(self, params, lr=0.05, betas=(0.9, 0.95), weight_decay=0.1, eps=1e-8):
            self.params, self.lr, self.betas, self.wd, self.eps, self.t = params, lr, betas, weight_decay, eps, 0
            for p in params:
                p.m, p.v = 0.0, 0.0            # the optimizer's state, on the parameter itself

        def step(self):
            self.t += 1
            b1, b2 = self.betas
            for p in self.params:
                p.m = b1 * p.m + (1 - b1) * p.grad
                p.v = b2 * p.v + (1 - b2) * p.grad ** 2
                m_hat, v_hat = p.m / (1 - b1 ** self.t), p.v / (1 - b2 ** self.t)
                p.data -= self.lr * (m_hat / (v_hat ** 0.5 + self.eps) + self.wd * p.data)

    model = MLP(2, [6, 3])
    params = model.parameters()
    opt = AdamW(params)
    losses = []
    for _ in range(steps):
        loss = sum(cross_entropy(model(x), y) for x, y in POINTS) * (1.0 / len(POINTS))
        for p in params:
            p.grad = 0.0
        loss.backward()
        opt.step()
        losses.append((loss.data, color_graph(loss), loss._vis_color))
    return losses, [p.data for p in params], [x for p in params for x in (p.m, p.v)]


def test_training_matches_the_reference(engine):
    (losses, weights, moments), (ref_losses, ref_weights, ref_moments) = program(engine), program(Ref)
    # every op node was tagged and kept its tag; pygrad's `/` is one op node
    # where micrograd's is two (`* b**-1`): one fewer per point's softmax
    assert [n for _, n, _ in losses] == [n - len(POINTS) for _, n, _ in ref_losses]
    assert [c for _, _, c in losses] == ["lightblue"] * len(losses)
    assert [x for x, _, _ in losses] == pytest.approx([x for x, _, _ in ref_losses], rel=1e-10)
    assert weights == pytest.approx(ref_weights, rel=1e-9)
    assert moments == pytest.approx(ref_moments, rel=1e-9)
    assert losses[-1][0] < losses[0][0]


def test_values_take_weak_references(engine):
    v = engine(1.5)
    ref = weakref.ref(v)
    assert ref() is v
    v.note = "kept"
    assert ref().note == "kept"
