"""A hyperparameter sweep of the moons MLP over a pool of processes.

One scalar graph runs on one core; a sweep trains many small models at
once, one per worker process. Each configuration (hidden size, learning
rate, seed) trains its own MLP from its own seed on the same data, so the
results do not depend on the worker that ran it: a parallel sweep gives
the serial sweep's numbers to the last bit (`--check` runs both and
compares). The pool is concurrent.futures' by default, joblib's with
`--backend joblib` (or `auto`, when it is installed), or a Dask cluster's
with `--backend dask`: a LocalCluster of worker processes on this machine,
or a running cluster with `--scheduler tcp://HOST:8786`. Workers are fresh
interpreters that start on pygrad's default engine, so the engine chosen
here (`--engine`, else PYGRAD_ENGINE) is passed to each of them with its job.

    python examples/sweep.py [--steps 30] [--workers 2] [--engine c|python]
    python examples/sweep.py --backend serial        # no pool
    python examples/sweep.py --check                 # parallel == serial, bitwise
    python examples/sweep.py --backend dask [--scheduler tcp://HOST:8786]
"""
import concurrent.futures
import itertools
import multiprocessing
import os
import random
import sys

import _cli
import moons
import numpy as np
from moons import loss, make_moons

import pygrad
from pygrad.nn import MLP

# Each configuration's model is drawn from --seed plus its "seed" offset.
GRID = {"hidden": [4, 8, 16], "lr": [0.1, 0.5, 1.0], "seed": [0, 1]}
BACKENDS = ["auto", "futures", "joblib", "dask", "serial"]


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


def configs(grid=GRID, seed=0):
    """Every combination of the grid's values, as dicts; each "seed" is
    offset by `seed`."""
    jobs = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    return [{**c, "seed": c["seed"] + seed} if "seed" in c else c for c in jobs]


def backend_name(backend):
    if backend != "auto":
        return backend
    try:
        import joblib  # noqa: F401
    except ImportError:
        return "futures"
    return "joblib"


def sweep(jobs, X, y, steps, backend="auto", workers=None, engine=None, scheduler=None):
    """[(config, (loss, accuracy, engine))] for every config in `jobs`, in order.
    scheduler: a Dask scheduler's address (dask backend; None: a LocalCluster)."""
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
    elif backend == "dask":
        results = dask_map(args, workers, scheduler)
    else:
        raise ValueError(f"unknown backend {backend!r}: auto, futures, joblib, dask or serial")
    return list(zip(jobs, results))


def dask_map(args, workers=None, scheduler=None):
    """train_one over `args` on a Dask cluster, results in order: the running
    cluster at `scheduler`, else a LocalCluster of `workers` single-threaded
    worker processes on loopback, closed afterwards."""
    import cloudpickle
    from dask.distributed import Client, LocalCluster
    # The scheduler and workers need not have examples/ on their path:
    # train_one and moons' loss travel by value (pygrad and numpy by name).
    for module in {sys.modules[train_one.__module__], moons} - {sys.modules["__main__"]}:
        cloudpickle.register_pickle_by_value(module)
    if scheduler:
        with Client(scheduler) as client:
            return client.gather(client.map(train_one, *zip(*args), pure=False))
    with LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=":0") as cluster, Client(cluster) as client:
        return client.gather(client.map(train_one, *zip(*args), pure=False))


def moons_data(n_samples=100, seed=1337):
    np.random.seed(seed)
    X, y = make_moons(n_samples=n_samples, noise=0.1)
    return X.tolist(), (y * 2 - 1).tolist()          # labels -1 and 1, for the hinge loss


def main():
    parser = _cli.Parser(__doc__, seed=1337, plot="save each configuration's final loss",
                         seed_help="; configuration k's model from seed + its offset in the grid")
    parser.add_argument("--steps", type=_cli.positive_int, default=30, help="training steps per configuration")
    parser.add_argument("--workers", type=_cli.positive_int, default=os.cpu_count(),
                        help="worker processes (a running Dask cluster has its own)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="auto: joblib if installed, else futures")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running Dask cluster's scheduler, e.g. tcp://10.0.0.5:8786 (with --backend dask; "
                             "default: a LocalCluster here)")
    parser.add_argument("--check", action="store_true", help="run serially too and compare, bit for bit")
    args = parser.parse_args()
    backend = backend_name(args.backend)
    if args.scheduler and backend != "dask":
        parser.error("--scheduler is for --backend dask")
    if backend == "dask" and not dask_installed():
        parser.error("--backend dask needs Dask's distributed scheduler: pip install \"dask[distributed]\"")
    print(f"pygrad engine: {pygrad.get_engine()}")
    X, y = moons_data(seed=args.seed)
    jobs = configs(seed=args.seed)
    results = sweep(jobs, X, y, args.steps, backend, args.workers, scheduler=args.scheduler)
    print(f"{len(jobs)} configurations, {args.steps} steps each, {backend} backend")
    print("hidden     lr  seed  loss                 accuracy  engine")
    for c, (final_loss, acc, engine) in sorted(results, key=lambda r: r[1][0]):
        print(f"{c['hidden']:6d}  {c['lr']:5.2f}  {c['seed']:4d}  {final_loss!r:<20} {acc * 100:7.1f}%  {engine}")
    if args.plot:
        plot(results, args.plot)
    if args.check:
        serial = sweep(jobs, X, y, args.steps, "serial")
        same = [repr(r) for r in results] == [repr(r) for r in serial]
        print(f"serial run gives the same numbers: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)


def dask_installed():
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


def plot(results, path):
    from _plotting import pyplot, save
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for hidden in sorted({c["hidden"] for c, _ in results}):
        points = sorted((c["lr"], r[0]) for c, r in results if c["hidden"] == hidden)
        ax.plot(*zip(*points), marker="o", linestyle="", label=f"hidden {hidden}")
    ax.set(xlabel="learning rate", ylabel="final loss", yscale="log", title="sweep: final loss per configuration")
    ax.legend()
    save(fig, path)


if __name__ == "__main__":
    main()
