"""micrograd's demo train step (demo.ipynb): MLP(2, [16, 16, 1]) on 100
two-moons points, max-margin loss + 1e-4 * L2, SGD. `loss` and `step` are
the notebook's code; only where `Value` and `MLP` come from differs
(micrograd.engine / micrograd.nn, pygrad.engine / pygrad.nn, ...).

A sample is K consecutive steps of one engine (config: train_steps), with
one gc.collect() before it and none between its steps, and reports the
time per step: each engine pays for the garbage its own steps leave, as a
user's training loop does (a collection before every single step would
hide the cost of micrograd's reference cycles)."""
import random
from time import perf_counter

from ..graphs import make_moons
from ..results import note_row, rows_from
from ..timing import alternate


def loss(Value, model, X, y):
    inputs = [list(map(Value, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    alpha = 1e-4
    reg_loss = alpha * sum((p * p for p in model.parameters()))  # noqa: UP034  (the notebook's line)
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


def step(Value, model, X, y, k):
    total_loss, acc = loss(Value, model, X, y)
    model.zero_grad()
    total_loss.backward()
    learning_rate = 1.0 - 0.9 * k / 100
    for p in model.parameters():
        p.data -= learning_rate * p.grad
    return total_loss


def _trainer(eng, X, y, losses, steps):
    random.seed(1337)                 # the notebook's seed: every engine starts from the same weights
    model = eng.MLP(2, [16, 16, 1])
    k = [0]

    def sample():
        # The loss is read at once: holding the Value would keep its whole
        # graph alive into the next step.
        t0 = perf_counter()
        for _ in range(steps):
            losses.append(float(eng.data(step(eng.Value, model, X, y, k[0]))))
            k[0] += 1
        return (perf_counter() - t0) / steps * 1e3
    return sample


def demo_step(ctx):
    try:
        X, y = make_moons(ctx.cfg["train_points"])
    except ImportError as exc:
        return [note_row("train_step", e.name, f"needs numpy ({exc})") for e in ctx.values()]
    reps, steps = ctx.cfg["reps"], ctx.cfg["train_steps"]
    engines = ctx.values()
    losses = {e.name: [] for e in engines}
    runs = {e.name: (e, _trainer(e, X, y, losses[e.name], steps)) for e in engines}
    ctx.progress.start("train_step", reps * len(runs))
    samples, notes = alternate(runs, reps, ctx.progress, warmup=1)
    out = []
    for name, xs in samples.items():
        out += rows_from("train_step", "ms/step", {name: xs}, {}, size=len(X), losses=losses[name],
                         steps_per_sample=steps)
    out += rows_from("train_step", "", {}, notes)
    return out
