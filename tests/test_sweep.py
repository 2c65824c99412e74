"""examples/sweep.py: a sweep over a process pool gives the serial sweep's
numbers bit for bit, and its workers run on the engine chosen at run time
(a spawned worker would otherwise start on the default engine)."""
import sys
from pathlib import Path

import pytest

import pygrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def sweep_module():
    # Imported by name from examples/, as the workers will import it.
    sys.path.insert(0, str(EXAMPLES))
    try:
        import sweep
        yield sweep
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.slow
def test_a_parallel_sweep_equals_the_serial_one(engine, sweep_module):
    pytest.importorskip("numpy")
    name = pygrad.get_engine()
    X, y = sweep_module.moons_data(30)
    jobs = sweep_module.configs({"hidden": [4], "lr": [0.5, 1.0], "seed": [1, 2]})
    parallel = sweep_module.sweep(jobs, X, y, steps=2, backend="futures", workers=2)
    serial = sweep_module.sweep(jobs, X, y, steps=2, backend="serial")
    assert [c for c, _ in parallel] == jobs
    assert {e for _, (_, _, e) in parallel} == {name}
    assert [repr(r) for r in parallel] == [repr(r) for r in serial]
    assert len({repr(r[0]) for _, r in serial}) == len(jobs)        # the configs really differ
    assert pygrad.get_engine() == name


def test_an_unknown_backend_is_refused(sweep_module):
    with pytest.raises(ValueError, match="unknown backend 'threads'"):
        sweep_module.sweep([], [], [], 1, backend="threads")


def dask_sweep_equals_serial(sweep_module, **where):
    """A small sweep on Dask: in order, on the active engine, and the serial numbers bit for bit."""
    name = pygrad.get_engine()
    X, y = sweep_module.moons_data(30)
    jobs = sweep_module.configs({"hidden": [4], "lr": [0.5, 1.0], "seed": [0, 1]}, seed=5)
    on_dask = sweep_module.sweep(jobs, X, y, steps=2, backend="dask", **where)
    serial = sweep_module.sweep(jobs, X, y, steps=2, backend="serial")
    assert [c for c, _ in on_dask] == jobs and {c["seed"] for c in jobs} == {5, 6}
    assert {e for _, (_, _, e) in on_dask} == {name}              # the engine reached the workers
    assert [repr(r) for r in on_dask] == [repr(r) for r in serial]
    assert len({repr(r[0]) for _, r in serial}) == len(jobs)
    assert pygrad.get_engine() == name


@pytest.mark.slow
def test_a_sweep_on_a_dask_local_cluster_equals_the_serial_one(engine, sweep_module):
    pytest.importorskip("numpy")
    pytest.importorskip("dask.distributed")
    dask_sweep_equals_serial(sweep_module, workers=2)              # a LocalCluster of 2 processes, on loopback


@pytest.mark.slow
def test_a_sweep_on_a_running_dask_cluster_equals_the_serial_one(engine, sweep_module):
    pytest.importorskip("numpy")
    distributed = pytest.importorskip("dask.distributed")
    # A cluster started elsewhere, reached by its scheduler's address (the
    # example sends its modules to the workers).
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        dask_sweep_equals_serial(sweep_module, scheduler=cluster.scheduler_address)


def test_the_dask_backend_is_an_optional_extra():
    pyproject = (EXAMPLES.parent / "pyproject.toml").read_text()
    core = pyproject.split("dependencies = ", 1)[1].split("\n", 1)[0]
    assert "dask" not in core and 'dask = ["dask[distributed]' in pyproject
