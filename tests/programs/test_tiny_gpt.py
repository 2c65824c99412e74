"""microgpt's style: a GPT trained with a scalar Value (embeddings,
RMSNorm, one attention head per slice, a ReLU MLP, softmax cross-entropy
through exp and log, Adam written over p.data / p.grad), a few steps of a
tiny one, on both engines, against the reference Value step by step."""
import math
import random

import pytest

from .reference import Value as Ref

DOCS = ["emma", "olivia", "ava", "mia", "amelia", "ella", "luna", "nora"]
N_EMBD, N_HEAD, BLOCK = 8, 2, 6


def tiny_gpt(Value, steps=4):
    """The user's program; only `Value` changes. Returns the losses."""
    random.seed(7)
    chars = sorted(set("".join(DOCS)))
    bos = len(chars)
    vocab = len(chars) + 1

    def matrix(nout, nin):
        return [[Value(random.gauss(0, 0.1)) for _ in range(nin)] for _ in range(nout)]

    wte, wpe, head = matrix(vocab, N_EMBD), matrix(BLOCK, N_EMBD), matrix(vocab, N_EMBD)
    wq, wk, wv, wo = (matrix(N_EMBD, N_EMBD) for _ in range(4))
    fc1, fc2 = matrix(2 * N_EMBD, N_EMBD), matrix(N_EMBD, 2 * N_EMBD)
    params = [p for m in (wte, wpe, head, wq, wk, wv, wo, fc1, fc2) for row in m for p in row]

    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(row, x)) for row in w]

    def rmsnorm(x):
        scale = (sum(xi * xi for xi in x) / len(x) + 1e-5) ** -0.5
        return [xi * scale for xi in x]

    def softmax(logits):
        top = max(v.data for v in logits)
        exps = [(v - top).exp() for v in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def forward(token, pos, keys, values):
        x = rmsnorm([t + p for t, p in zip(wte[token], wpe[pos])])
        keys.append(linear(x, wk))
        values.append(linear(x, wv))
        q, hd, attended = linear(x, wq), N_EMBD // N_HEAD, []
        for h in range(N_HEAD):
            s = slice(h * hd, (h + 1) * hd)
            w = softmax([sum(a * b for a, b in zip(q[s], k[s])) / hd ** 0.5 for k in keys])
            attended += [sum(w[t] * values[t][s][j] for t in range(len(keys))) for j in range(hd)]
        x = [a + b for a, b in zip(linear(attended, wo), x)]
        x = [a + b for a, b in zip(linear([h.relu() for h in linear(rmsnorm(x), fc1)], fc2), x)]
        return linear(x, head)

    m, v = [0.0] * len(params), [0.0] * len(params)
    losses = []
    for step in range(steps):
        tokens = [bos] + [chars.index(c) for c in DOCS[step % len(DOCS)]] + [bos]
        n = min(BLOCK, len(tokens) - 1)
        keys, values, per_pos = [], [], []
        for pos in range(n):
            probs = softmax(forward(tokens[pos], pos, keys, values))
            per_pos.append(-probs[tokens[pos + 1]].log())
        loss = (1 / n) * sum(per_pos)
        loss.backward()
        lr = 0.01 * (1 - step / steps)
        for i, p in enumerate(params):
            m[i] = 0.85 * m[i] + 0.15 * p.grad
            v[i] = 0.99 * v[i] + 0.01 * p.grad ** 2
            m_hat, v_hat = m[i] / (1 - 0.85 ** (step + 1)), v[i] / (1 - 0.99 ** (step + 1))
            p.data -= lr * m_hat / (v_hat ** 0.5 + 1e-8)
            p.grad = 0
        losses.append(loss.data)
    return losses


def test_losses_match_the_reference_step_by_step(engine):
    ours, ref = tiny_gpt(engine), tiny_gpt(Ref)
    assert ours == pytest.approx(ref, rel=1e-9)
    assert all(math.isfinite(x) and 0 < x < 10 for x in ours)
    assert ours[-1] != ours[0]                # the updates reached the parameters
