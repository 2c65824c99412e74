"""The tutorial's first half: the slope of a parabola, then its minimum.

f(x) = 3x**2 - 4x + 5 has its lowest point at x = 2/3. First we nudge x by
a small h and measure the slope (f(x+h) - f(x)) / h by hand, as the tutorial
does; then pygrad's autograd gives the exact slope, and gradient descent
walks x down to the minimum.

    python examples/parabola.py [--steps 30] [--lr 0.1] [--x0 3.0] [--plot parabola.png] [--engine c|python]
"""
import _cli
from _plotting import pyplot, save

import pygrad


def f(x):
    return 3 * x**2 - 4 * x + 5


def numeric_slopes():
    print("-- nudging x by hand --")
    h = 0.1
    for x in (3.0, -4.4):
        print(f"f({x} + {h}) = {f(x + h)!r}")
    h = 0.0001
    for x, name in ((3.0, "3.0"), (2.0, "2.0"), (2 / 3, "2/3")):
        print(f"slope at x = {name} with h = {h}: {(f(x + h) - f(x)) / h!r}")


def autograd_slope():
    print("-- the same slope from autograd, the tutorial's way --")
    x = pygrad.ML_Framework(2.0)
    y = 3 * x.times(x)       # 3x^2
    y = y.minus(4 * x)       # 3x^2 - 4x
    y = y.plus(5)            # 3x^2 - 4x + 5
    y.backward()
    print(f"f(2.0) = {y.data!r}, slope = {x.value!r}")   # exactly 6x - 4 = 8


def descend(x0, lr, steps):
    print("-- gradient descent --")
    x = pygrad.Value(x0)
    history = []
    for k in range(steps):
        y = f(x)
        x.grad = 0.0         # backward() accumulates, so clear the old slope
        y.backward()
        history.append(y.data)
        print(f"step {k} x {x.data!r} f(x) {y.data!r} slope {x.grad!r}")
        x.data = x.data - lr * x.grad
    return x.data, history


def plot(history, path):
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(history, marker="o")
    ax.set(xlabel="step", ylabel="f(x)", title="f(x) = 3x² - 4x + 5 during descent")
    save(fig, path)


def main():
    parser = _cli.Parser(__doc__, seed=0, plot="save f(x) per step")   # (this example draws no random numbers)
    parser.add_argument("--steps", type=_cli.positive_int, default=30, help="gradient-descent steps")
    parser.add_argument("--lr", type=_cli.positive_float, default=0.1, help="learning rate")
    parser.add_argument("--x0", type=_cli.finite_float, default=3.0, help="starting point")
    args = parser.parse_args()

    print(f"pygrad engine: {pygrad.get_engine()}")
    numeric_slopes()
    autograd_slope()
    x, history = descend(args.x0, args.lr, args.steps)
    print(f"final x: {x!r} (the minimum is at 2/3 = {2 / 3!r})")
    if args.plot:
        plot(history, args.plot)


if __name__ == "__main__":
    main()
