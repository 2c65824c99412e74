"""What seeing the graph costs: `python -m benchmarks.viz_bench [--runs N]`.

1. pygrad.show on a 500-Value graph (walk, layout, SVG), per engine.
2. micrograd's moons demo (examples/moons.py's eager loop) with and without
   a LiveLoss redrawing its loss curve and decision boundary, runs
   interleaved: the training slowdown and the redraws per second. The
   display is a stand-in that renders each picture to HTML, as IPython's
   formatter would, without a notebook to send it to.

Times are process CPU time (time.process_time) medians, side by side in one run.
"""
import argparse
import importlib.util
import os
import random
import statistics
import sys
import time

import pygrad

BUDGET = float(os.environ.get("BUDGET", "0.03"))   # LiveLoss default
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def graph_500(V):
    """A 500-Value graph with sharing: a chain of small neurons over 10 inputs."""
    rng = random.Random(0)
    xs = [V(rng.uniform(-1, 1), label=f"x{i}") for i in range(10)]
    nodes, outs = list(xs), []
    while len(nodes) < 504:
        a, b = rng.sample(nodes[-30:], 2)
        w = V(rng.uniform(-1, 1))
        m = a * w
        s = m + b
        t = s.tanh()
        nodes += [w, m, s, t]
        outs.append(t)
    return V.sum(outs)


def count(root):
    seen, stack = {root}, [root]
    while stack:
        for k in stack.pop()._children:
            if k not in seen:
                seen.add(k)
                stack.append(k)
    return len(seen)


def bench_show(runs):
    for engine in pygrad.ENGINES:
        V = pygrad.use_engine(engine)
        root = graph_500(V)
        times = []
        for _ in range(runs):
            t = time.process_time()
            pygrad.show(root, max_nodes=None)
            times.append(time.process_time() - t)
        print(f"show, {count(root)} Values, {engine:6s} engine: median {1000 * statistics.median(times):.1f} ms "
              f"(min {1000 * min(times):.1f}) over {runs} runs")


def load_moons():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    spec = importlib.util.spec_from_file_location("moons", os.path.join(ROOT, "examples", "moons.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def train(moons, X, y, steps, live):
    import numpy as np
    np.random.seed(1337)
    random.seed(1337)
    model = pygrad.nn.MLP(2, [16, 16, 1])
    for k in range(steps):
        total, _ = moons.loss(model, X, y)
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        if live is not None:
            live.update(k, total.data, model)
    return model


def render_stand_in(picture):
    picture._repr_html_()
    return lambda p: p._repr_html_()


def bench_live(runs, steps):
    pygrad.use_engine("c")
    moons = load_moons()
    import numpy as np
    np.random.seed(1337)
    X, y = moons.make_moons(n_samples=100, noise=0.1)
    y = y * 2 - 1
    plain, again, with_live, rates, maps = [], [], [], [], []
    for _ in range(runs):
        for times in (plain, again):    # twice without: the A/A difference is the noise floor
            t = time.process_time()
            train(moons, X, y, steps, None)
            times.append(time.process_time() - t)
        live = pygrad.viz.LiveLoss(boundary=(X, y), display=render_stand_in, budget=BUDGET)
        t, wall = time.process_time(), time.perf_counter()
        train(moons, X, y, steps, live)
        with_live.append(time.process_time() - t)
        rates.append(live.updates / (time.perf_counter() - wall))
        maps.append(live.boundary_draws)
    p, a, w = statistics.median(plain), statistics.median(again), statistics.median(with_live)
    print(f"moons, {steps} steps, c engine: without live {p:.3f} s (again: {a:.3f} s, {100 * (a / p - 1):+.1f}%), "
          f"with LiveLoss {w:.3f} s "
          f"(+{100 * (w / p - 1):.1f}%), {statistics.median(rates):.1f} redraws/s, "
          f"{statistics.median(maps):g} boundary redraws (median of {runs} runs each)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    bench_show(args.runs)
    bench_live(args.runs, args.steps)


if __name__ == "__main__":
    main()
