"""A hyperparameter sweep of the moons MLP over a pool of processes.

One scalar graph runs on one core; a sweep trains many small models at
once, one per worker process. Each configuration (hidden size, learning
rate, seed) trains its own MLP from its own seed on the same data, so the
results do not depend on the worker that ran it: a parallel sweep gives
the serial sweep's numbers to the last bit (`--check` runs both and
compares). The pool is concurrent.futures' by default, joblib's with
`--backend joblib` (or `auto`, when it is installed). Workers are fresh
interpreters that start on pygrad's default engine, so the engine chosen
here (`--engine`, else PYGRAD_ENGINE) is passed to each of them with its job.

    python examples/sweep.py [--steps 30] [--workers 2] [--engine c|python]
    python examples/sweep.py --backend serial        # no pool
    python examples/sweep.py --check                 # parallel == serial, bitwise
"""
import argparse
import concurrent.futures
import itertools
import multiprocessing
import os
import random

import numpy as np
from moons import loss, make_moons

import pygrad
from pygrad.nn import MLP

GRID = {"hidden": [4, 8, 16], "lr": [0.1, 0.5, 1.0], "seed": [1, 2]}


def train_one(engine, X, y, hidden, lr, seed, steps):
    """Train one MLP(2, [hidden, hidden, 1]); its final loss and accuracy,
    and the engine it ran on."""
    pygrad.use_engine(engine)           # a spawned worker starts on the default engine
    random.seed(seed)
    model = MLP(2, [hidden, hidden, 1])
    for k in range(steps):
        total_loss, _ = loss(model, X, y)
        model.zero_grad()
        total_loss.backward()
        rate = lr * (1.0 - 0.9 * k / steps)
        for p in model.parameters():
            p.data -= rate * p.grad
    total_loss, acc = loss(model, X, y)
    return total_loss.data, acc, pygrad.get_engine()


def configs(grid=GRID):
    """Every combination of the grid's values, as dicts."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def backend_name(backend):
    if backend != "auto":
        return backend
    try:
        import joblib  # noqa: F401
    except ImportError:
        return "futures"
    return "joblib"


def sweep(jobs, X, y, steps, backend="auto", workers=None, engine=None):
    """[(config, (loss, accuracy, engine))] for every config in `jobs`, in order."""
    engine = engine or pygrad.get_engine()
    args = [(engine, X, y, c["hidden"], c["lr"], c["seed"], steps) for c in jobs]
    backend = backend_name(backend)
    if backend == "serial":
        results = [train_one(*a) for a in args]
    elif backend == "joblib":
        import joblib
        results = joblib.Parallel(n_jobs=workers or -1)(joblib.delayed(train_one)(*a) for a in args)
    elif backend == "futures":
        # spawn: fresh interpreters on every OS (forking a process that has
        # threads is unsafe, and the default start method differs by OS).
        context = multiprocessing.get_context("spawn")
        if hasattr(concurrent.futures.ProcessPoolExecutor, "_adjust_process_count"):
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                results = list(pool.map(train_one, *zip(*args)))
        else:    # PyPy 3.9's executor fails to spawn (its stdlib lacks that method): a Pool
            with context.Pool(workers) as pool:
                results = pool.starmap(train_one, args)
    else:
        raise ValueError(f"unknown backend {backend!r}: auto, futures, joblib or serial")
    return list(zip(jobs, results))


def moons_data(n_samples=100):
    np.random.seed(1337)
    X, y = make_moons(n_samples=n_samples, noise=0.1)
    return X.tolist(), (y * 2 - 1).tolist()          # labels -1 and 1, for the hinge loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes")
    parser.add_argument("--backend", default="auto", choices=["auto", "futures", "joblib", "serial"])
    parser.add_argument("--engine", choices=sorted(pygrad.ENGINES), help="default: PYGRAD_ENGINE, else c")
    parser.add_argument("--check", action="store_true", help="run serially too and compare, bit for bit")
    args = parser.parse_args()
    if args.engine:
        pygrad.use_engine(args.engine)
    print(f"pygrad engine: {pygrad.get_engine()}")
    X, y = moons_data()
    jobs = configs()
    backend = backend_name(args.backend)
    results = sweep(jobs, X, y, args.steps, backend, args.workers)
    print(f"{len(jobs)} configurations, {args.steps} steps each, {backend} backend")
    print("hidden     lr  seed  loss                 accuracy  engine")
    for c, (final_loss, acc, engine) in sorted(results, key=lambda r: r[1][0]):
        print(f"{c['hidden']:6d}  {c['lr']:5.2f}  {c['seed']:4d}  {final_loss!r:<20} {acc * 100:7.1f}%  {engine}")
    if args.check:
        serial = sweep(jobs, X, y, args.steps, "serial")
        same = [repr(r) for r in results] == [repr(r) for r in serial]
        print(f"serial run gives the same numbers: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
