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
