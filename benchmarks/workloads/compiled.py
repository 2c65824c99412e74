"""Compiled mode (issue 5), on pygrad's two engines beside the floor:

- train_step_compiled: micrograd's demo step written with pygrad.compile,
  as examples/moons.py --compiled does (a hinge-loss program accumulated
  over the 100 rows, an L2 program, SGD); the floor is the same step in
  hand-written C (floor/train_step.c). A sample is K consecutive steps
  (config: compiled_steps). The losses of every engine and of the floor
  must agree: the floor does the same arithmetic, so it is a fair floor.
- forward_batch: Program.forward_batch of that hinge-loss program over a
  big batch, per instruction evaluated (len(program) per row) and per row.

Not timed: the accuracy, which the example computes with a separate
forward pass (micrograd's eager step reads it off its scores for free).
"""
import random
from time import perf_counter

from ..floor.handles import Trainer, init_params
from ..graphs import make_moons
from ..results import note_row, row
from ..timing import alternate

SIZES = [2, 16, 16, 1]
ALPHA = 1e-4


def learning_rate(k):
    """micrograd's schedule, restarted every 100 steps (long runs stay in
    the demo's regime instead of running into negative rates)."""
    return 1.0 - 0.9 * (k % 100) / 100


class CompiledDemo:
    """The demo step with compiled programs on a pygrad engine."""

    def __init__(self, eng, X, y):
        import numpy as np

        import pygrad
        random.seed(1337)                  # the eager workload's (and the floor's) initial weights
        model = eng.MLP(SIZES[0], SIZES[1:])
        V, params = eng.Value, model.parameters()
        x, target = [V(0.0) for _ in range(SIZES[0])], V(0.0)     # placeholders
        self.hinge = pygrad.compile((1 + -target * model(x)).relu(), inputs=x + [target], params=params)
        self.l2 = pygrad.compile(ALPHA * V.sum([p * p for p in params]), params=params)
        self.opt = pygrad.optim.SGD(params, lr=1.0)
        self.batch, self.no_inputs = np.c_[X, y], np.empty((1, 0))

    def step(self, k):
        n = len(self.batch)
        self.opt.zero_grad()
        row_losses = self.hinge.accumulate(self.batch, scale=1.0 / n)
        reg_loss = float(self.l2.accumulate(self.no_inputs)[0])
        data_loss = 0.0
        for v in row_losses.tolist():      # left to right, as sum() over Values adds
            data_loss += v
        self.opt.lr = learning_rate(k)
        self.opt.step()
        return data_loss * (1.0 / n) + reg_loss


class FloorDemo:
    """The same step in hand-written C."""

    def __init__(self, eng, X, y):
        self.trainer = Trainer(eng.floor, SIZES, init_params(SIZES), X, y, ALPHA)
        self.hinge = self.trainer           # forward_batch: per-row hinge loss

    def step(self, k):
        return self.trainer.step(learning_rate(k))


def _demo(eng, X, y):
    return FloorDemo(eng, X, y) if eng.floor is not None else CompiledDemo(eng, X, y)


def _engines(ctx):
    floor = ctx.floor()
    return ctx.pygrad() + ([floor] if floor else [])


def _stepper(demo, steps, losses):
    k = [0]

    def sample():
        t0 = perf_counter()
        for _ in range(steps):
            losses.append(demo.step(k[0]))
            k[0] += 1
        return (perf_counter() - t0) / steps * 1e3
    return sample


def max_rel_diff(xs, ys):
    """Largest |x - y| / |y| over the common prefix (0.0 where equal)."""
    diffs = [abs(x - y) / abs(y) if x != y else 0.0 for x, y in zip(xs, ys)]
    return max(diffs, default=None)


def _agreement(losses, name, against="c"):
    """(note, extra): how this engine's losses compare with the C engine's."""
    if name == against or against not in losses:
        return "", {}
    diff = max_rel_diff(losses[name], losses[against])
    n = min(len(losses[name]), len(losses[against]))
    if diff == 0.0:
        return f"losses = {against}'s, bitwise, over {n} steps", {"max_rel_diff": 0.0}
    verdict = "match" if diff <= 1e-12 else "MISMATCH:"
    return f"losses {verdict} {against}'s to {diff:.2g} (relative) over {n} steps", {"max_rel_diff": diff}


def train_step(ctx):
    X, y = make_moons(ctx.cfg["train_points"])
    reps, steps = ctx.cfg["reps"], ctx.cfg["compiled_steps"]
    engines = _engines(ctx)
    losses = {e.name: [] for e in engines}
    runs, notes = {}, {}
    for e in engines:
        try:
            runs[e.name] = (e, _stepper(_demo(e, X, y), steps, losses[e.name]))
        except Exception as exc:
            notes[e.name] = f"setup failed: {type(exc).__name__}: {exc}"[:200]
    ctx.progress.start("train_step_compiled", reps * len(runs))
    samples, failed = alternate(runs, reps, ctx.progress, warmup=1)
    notes.update(failed)
    out = []
    for name, xs in samples.items():
        note, extra = _agreement(losses, name)
        out.append(row("train_step_compiled", name, "ms/step", xs, size=len(X), note=note,
                       losses=losses[name], steps_per_sample=steps, **extra))
    out += [note_row("train_step_compiled", name, why) for name, why in notes.items()]
    return out


# ---------------------------------------------------------------------------
# forward over a batch


def make_batch(rows, seed=5):
    """(rows, 3) float64: two inputs in [-2, 2], then a label -1 or +1."""
    import numpy as np
    rng = np.random.RandomState(seed)
    return np.c_[rng.uniform(-2, 2, size=(rows, 2)), rng.choice([-1.0, 1.0], size=rows)]


def _batch_sampler(eng, batch, outputs):
    X, y = make_moons(4)                      # any data: only the program (or floor) is used
    program = _demo(eng, X, y).hinge
    rows = len(batch)
    if eng.floor is not None:
        import numpy as np
        inputs, labels, out = np.ascontiguousarray(batch[:, :2]), np.ascontiguousarray(batch[:, 2]), np.empty(rows)

        def sample():
            t0 = perf_counter()
            program.forward_batch(inputs, labels, out)
            took = perf_counter() - t0
            outputs[eng.name] = out
            return None, took / rows * 1e9
        return sample

    def sample():
        t0 = perf_counter()
        out = program.forward_batch(batch)
        took = perf_counter() - t0
        outputs[eng.name] = out
        return took / (rows * len(program)) * 1e9, took / rows * 1e9
    sample.instructions = len(program)
    return sample


def _same_outputs(outputs, name):
    """Do this engine's per-row outputs equal the C engine's, bitwise, on the rows both ran?"""
    mine, c = outputs.get(name), outputs.get("c")
    if mine is None or c is None:
        return None
    n = min(len(mine), len(c))
    return bool((mine[:n] == c[:n]).all())


def forward_batch(ctx):
    rows = {"python": ctx.cfg["batch_rows_python"]}
    full = make_batch(ctx.cfg["batch_rows"])
    engines = _engines(ctx)
    runs, outputs, instructions, notes = {}, {}, {}, {}
    for e in engines:
        try:
            sampler = _batch_sampler(e, full[:rows.get(e.name, len(full))], outputs)
        except Exception as exc:
            notes[e.name] = f"setup failed: {type(exc).__name__}: {exc}"[:200]
            continue
        runs[e.name] = (e, sampler)
        instructions[e.name] = getattr(sampler, "instructions", None)
    reps = ctx.cfg["reps"]
    ctx.progress.start("forward_batch", reps * len(runs))
    samples, failed = alternate(runs, reps, ctx.progress, warmup=1)
    notes.update(failed)
    out = []
    for name, xs in samples.items():
        n = rows.get(name, len(full))
        same = _same_outputs(outputs, name)
        note = "" if same is None or name == "c" else ("outputs = c's, bitwise" if same else "outputs DIFFER from c's")
        extra = {"rows": n, "instructions": instructions[name], "same_as_c": same}
        if instructions[name]:
            out.append(row("forward_batch", name, "ns/instr", [s[0] for s in xs], size=n * instructions[name],
                           note=f"{n:,} rows x {instructions[name]} instructions", **extra))
        out.append(row("forward_batch_row", name, "ns/row", [s[1] for s in xs], size=n, note=note, **extra))
    for name, why in notes.items():
        out += [note_row("forward_batch", name, why), note_row("forward_batch_row", name, why)]
    return out
