"""pygrad's command line.

    python -m pygrad                  # = info: version, engine, C core, platform
    python -m pygrad demo             # train the tutorial's neuron and a tiny MLP
    python -m pygrad --engine python demo

`--engine c|python` (before or after the subcommand) chooses the engine, as
PYGRAD_ENGINE does. Exit status: 0 on success, 1 when the chosen engine is not
available, 2 on a usage error. (The benchmarks: `python -m benchmarks` in a checkout.)
"""
import argparse
import os
import platform
import random
import sys

import pygrad
from pygrad import _ffi
from pygrad._coreinfo import why_no_core
from pygrad._engines import ENGINES, cengine_or_none


def main(argv=None):
    args = _parser().parse_args(argv)
    engine_error = _choose_engine(args.engine)
    if args.command in (None, "info"):
        info(engine_error)
        return 1 if engine_error else 0
    if engine_error:
        print(f"error: {engine_error}", file=sys.stderr)
        return 1
    demo()
    return 0


def _parser():
    p = argparse.ArgumentParser(prog="python -m pygrad", description="pygrad: scalar autograd with a C core.")
    _engine_flag(p, default=None)
    sub = p.add_subparsers(dest="command", metavar="{info,demo}")
    # The subcommands take --engine too; SUPPRESS keeps one given before them.
    _engine_flag(sub.add_parser("info", help="version, active engine, C core, platform (the default)"))
    _engine_flag(sub.add_parser("demo", help="train the tutorial's house-prices neuron and a tiny MLP"))
    return p


def _engine_flag(parser, default=argparse.SUPPRESS):
    parser.add_argument("--engine", choices=list(ENGINES), default=default,
                        help="the engine to use (default: PYGRAD_ENGINE, else c)")


def _choose_engine(name):
    """Make `name` (or the environment's choice) active; an error message, or None."""
    try:
        if name:
            pygrad.use_engine(name)
        else:
            pygrad.get_engine()
    except (ImportError, ValueError) as exc:
        return str(exc)
    return None


# -- info ---------------------------------------------------------------------


def info(engine_error=None):
    print(f"pygrad {pygrad.__version__} ({os.path.dirname(pygrad.__file__)})")
    if engine_error:
        print(f"engine: not available: {engine_error}")
    else:
        print(f"engine: {pygrad.get_engine()} (choose with --engine or PYGRAD_ENGINE=c|python)")
    cengine = cengine_or_none()
    if cengine is None:
        print(f"C core: not loaded, because {why_no_core(_ffi.LOAD_ERROR)}")
    else:
        print(f"C core: loaded, {cengine.stats()['node_bytes']} bytes per node")
    print(f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}")


# -- demo ---------------------------------------------------------------------


def demo():
    print(f"pygrad engine: {pygrad.get_engine()}")
    house_prices()
    tiny_mlp()


def house_prices(epochs=100, lr=0.05):
    """The tutorial's run: one input per house, so it trains on the
    1-bedroom house alone (see examples/house_prices.py) and predicts
    $498000.00 for five bedrooms."""
    from pygrad.nn import SingleLayerNeuron, squared_error_loss
    V = pygrad.Value
    print("\nHouse prices (the tutorial's single-layer neuron):")
    model = SingleLayerNeuron(1)
    x, y = [V(1)], V(100000 / 100000)
    for epoch in range(epochs):
        loss = squared_error_loss(model(x), y)
        model.zero_value()
        loss.backward()
        for p in model.weights_bias_parameters():
            p.data = p.data - lr * p.value
        if epoch < 3 or epoch == epochs - 1:
            print(f"  Epoch {epoch}, Loss: {loss.data}")
    price = model([V(5)]).data * 100000
    print(f"Predicted price for a 5-bedroom house: ${price:.2f}")


# Four points, two classes (+1 / -1), as in micrograd's lecture.
POINTS = [([2.0, 3.0, -1.0], 1.0), ([3.0, -1.0, 0.5], -1.0), ([0.5, 1.0, 1.0], -1.0), ([1.0, 1.0, -1.0], 1.0)]


def tiny_mlp(steps=60, lr=0.02):
    """A seeded MLP(3, [4, 4, 1]) fitted to four points by squared error."""
    from pygrad.nn import MLP, SGD
    print("\nA tiny MLP(3, [4, 4, 1]) on four points:")
    random.seed(2)   # a seed whose start trains well in 60 steps
    model = MLP(3, [4, 4, 1])
    opt = SGD(model.parameters(), lr=lr)
    for step in range(steps):
        preds = [model(x) for x, _ in POINTS]
        loss = pygrad.sum([(p - y) ** 2 for p, (_, y) in zip(preds, POINTS)])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 15 == 0 or step == steps - 1:
            print(f"  step {step:2d} loss {loss.data:.6f}")
    print("  targets:    ", " ".join(f"{y:+.2f}" for _, y in POINTS))
    print("  predictions:", " ".join(f"{model(x).data:+.2f}" for x, _ in POINTS))


if __name__ == "__main__":
    sys.exit(main())
