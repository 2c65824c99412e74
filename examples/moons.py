"""micrograd's demo: an MLP learns to separate two interleaving half moons.

Binary classification with MLP(2, [16, 16, 1]), a max-margin (hinge) loss
with L2 regularisation, and SGD with a decaying learning rate, as in
micrograd's demo.ipynb. The data is sklearn's make_moons, rebuilt with numpy.

    python examples/moons.py [--steps 100] [--seed 1337] [--plot moons.png]
    python examples/moons.py --compiled [--time]       # graph traced once, steps in C
    python examples/moons.py --engine python          # the pure-Python engine (or PYGRAD_ENGINE=python)
"""
import time

import _cli
import numpy as np
from _plotting import pyplot, save
from _progress import progress

import pygrad
from pygrad.nn import MLP


def make_moons(n_samples=100, noise=0.1):
    """sklearn.datasets.make_moons with numpy only. It draws from numpy's
    global generator in sklearn's order (shuffle, then noise), so after
    np.random.seed(s) it gives the same points as sklearn does."""
    n_out = n_samples // 2
    n_in = n_samples - n_out
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    X = np.vstack([np.append(np.cos(t_out), 1 - np.cos(t_in)),             # outer moon, inner moon
                   np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)]).T    # the inner one shifted
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    order = np.arange(n_samples)
    np.random.shuffle(order)
    X, y = X[order], y[order]
    X += np.random.normal(scale=noise, size=X.shape)
    return X, y


def loss(model, X, y):
    """Total loss (mean hinge loss + L2) and accuracy over the whole data set."""
    Value = pygrad.Value
    inputs = [list(map(Value, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    alpha = 1e-4
    reg_loss = alpha * sum(p * p for p in model.parameters())
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


def train(model, X, y, steps):
    # One fresh graph per step, as micrograd builds it (train_compiled
    # traces the graph once instead).
    history, report = [], progress(steps, "training")
    for k in range(steps):
        total_loss, acc = loss(model, X, y)
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history.append((total_loss.data, acc))
        report(f"step {k} loss {total_loss.data}, accuracy {acc * 100}%")
    report.close()
    return history


def train_compiled(model, X, y, steps, alpha=1e-4):
    """The same training with compiled programs (pygrad.compile): the graphs
    are traced once over placeholders, and each step is a few calls that run
    every row forward and backward, and the SGD update (in C on the C engine:
    no Python per node or per row). The losses are the eager loop's up to the
    order in which gradients are summed: ~1e-14 relative after 100 steps."""
    Value = pygrad.Value
    params = model.parameters()
    x, target = [Value(0.0), Value(0.0)], Value(0.0)      # placeholders: one row's inputs
    score = model(x)
    scores = pygrad.compile(score, inputs=x, params=params)             # for the accuracy
    hinge = pygrad.compile((1 + -target * score).relu(), inputs=x + [target], params=params)
    # L2 is a program too, with no inputs, run on one empty row: its value
    # and its gradient come from the eager loop's graph alpha * sum(p * p).
    l2 = pygrad.compile(alpha * pygrad.sum([p * p for p in params]), params=params)
    batch, one_empty_row = np.c_[X, y], np.empty((1, 0))
    opt = pygrad.optim.SGD(params, lr=1.0)    # runs in C on the C engine
    history, report = [], progress(steps, "training")
    for k in range(steps):
        acc = np.count_nonzero((scores.forward_batch(X) > 0) == (y > 0)) / len(y)
        opt.zero_grad()
        # the mean hinge loss's gradient: each row's, scaled by 1/n, summed in C
        row_losses = hinge.accumulate(batch, scale=1.0 / len(batch))
        reg_loss = l2.accumulate(one_empty_row)[0]
        data_loss = 0.0
        for row_loss in row_losses.tolist():   # left to right, as sum() over Values adds
            data_loss += row_loss
        total_loss = data_loss * (1.0 / len(batch)) + reg_loss
        opt.lr = 1.0 - 0.9 * k / 100
        opt.step()
        history.append((total_loss, acc))
        report(f"step {k} loss {total_loss}, accuracy {acc * 100}%")
    report.close()
    return history


def plot(model, X, y, history, path):
    plt = pyplot()
    if plt is None:
        return
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot([h[0] for h in history])
    ax_loss.set(xlabel="step", ylabel="loss", title="training loss")
    # The decision boundary: the model's sign over a grid, as in micrograd's demo.
    h = 0.1
    xx, yy = np.meshgrid(np.arange(X[:, 0].min() - 1, X[:, 0].max() + 1, h),
                         np.arange(X[:, 1].min() - 1, X[:, 1].max() + 1, h))
    Value = pygrad.Value
    Z = np.array([model([Value(a), Value(b)]).data > 0 for a, b in zip(xx.ravel(), yy.ravel())])
    ax_map.contourf(xx, yy, Z.reshape(xx.shape), cmap=plt.cm.Spectral, alpha=0.8)
    ax_map.scatter(X[:, 0], X[:, 1], c=y, s=40, cmap=plt.cm.Spectral)
    ax_map.set(title="decision boundary")
    save(fig, path)


def main():
    # micrograd's seed by default: the same data and initial weights
    parser = _cli.Parser(__doc__, seed=1337, plot="save the loss curve and the decision boundary")
    parser.add_argument("--steps", type=_cli.positive_int, default=100, help="training steps")
    parser.add_argument("--compiled", action="store_true", help="trace the loss once and train with compiled programs")
    parser.add_argument("--time", action="store_true", help="print the training loop's wall time at the end")
    args = parser.parse_args()          # seeds the generators
    print(f"pygrad engine: {pygrad.get_engine()}")

    X, y = make_moons(n_samples=100, noise=0.1)
    y = y * 2 - 1            # labels -1 and 1, for the hinge loss
    model = MLP(2, [16, 16, 1])
    print(model)
    print("number of parameters", len(model.parameters()))
    start = time.perf_counter()
    history = (train_compiled if args.compiled else train)(model, X, y, args.steps)
    elapsed = time.perf_counter() - start     # compiling included
    if args.time:
        print(f"training time: {elapsed:.3f} s")
    if args.plot:
        plot(model, X, y, history, args.plot)


if __name__ == "__main__":
    main()
