"""Shared fixtures: every behavioural test runs on both engines.

`engine` is the one engine fixture: each test that takes it runs twice, on
the C engine and on the reference engine, with that engine made the active
one (so `pygrad.Value`, `pygrad.nn`, ... mean it too, and
`pygrad.get_engine()` names it); the previous choice comes back afterwards.
Tests that compare the two engines hold both classes,
`pygrad.value_class("c")` and `pygrad.value_class("python")`, or, for code
that uses `pygrad.Value`, call it on each with `run_on`.

Bitwise float equality is written `repr(a) == repr(b)` throughout: repr
round-trips exactly, tells -0.0 from 0.0 and prints every NaN as nan.

Tests over ~2 s are marked `slow` and left out of the default run
(`pyproject.toml`'s addopts); `python -m pytest -m slow` runs them.
"""
import gc
import sys

import pytest
from hypothesis import HealthCheck, settings

import pygrad

ENGINE_NAMES = ["c", "python"]

# `engine` is function-scoped; it changes nothing a hypothesis example could
# see twice (it only switches the engine, once per test), so reusing it
# across a test's examples is safe.
settings.register_profile("pygrad", suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("pygrad")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~2 s; deselected by default, run with -m slow")
    config.addinivalue_line("markers", "exact_node_counts: asserts the core's exact live-node count "
                            "across a whole test (skipped on PyPy)")


def pytest_collection_modifyitems(config, items):
    # On PyPy, garbage that earlier tests left is finalized at PyPy's own
    # times, even during a later test, so an exact count of live nodes from
    # a test's start to its end can be off by nodes that are not the test's.
    if sys.implementation.name == "pypy":
        skip = pytest.mark.skip(reason="PyPy finalizes other tests' garbage at its own times: exact counts vary")
        for item in items:
            if "exact_node_counts" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(params=ENGINE_NAMES)
def engine(request):
    """The engine under test, made active for the test: its Value class."""
    before = pygrad.get_engine()
    cls = pygrad.use_engine(request.param)
    yield cls
    pygrad.use_engine(before)


@pytest.fixture(scope="session")
def run_on():
    """For tests that compare the engines on code that uses `pygrad.Value`:
    `run_on(name, f, *args)` calls f with engine `name` active."""
    def call(name, f, *args):
        before = pygrad.get_engine()
        pygrad.use_engine(name)
        try:
            return f(*args)
        finally:
            pygrad.use_engine(before)
    return call


@pytest.fixture(scope="session")
def live_nodes():
    """A callable: nodes alive in the C core, after Python dropped what it can."""
    from pygrad.cengine import stats

    def count():
        gc.collect()
        live = stats()["live"]
        # PyPy runs a dead handle's finalizer at a periodic check after the
        # collection that found it, and what that handle alone kept alive
        # dies only in a later collection: collect, let some bytecodes run,
        # until the count holds three times (CPython frees it all at once).
        same = 0
        for _ in range(50 if sys.implementation.name == "pypy" else 0):
            gc.collect()
            for _ in range(5_000):
                pass
            live, before = stats()["live"], live
            same = same + 1 if live == before else 0
            if same == 3:
                break
        return live
    return count
