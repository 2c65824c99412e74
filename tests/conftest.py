"""Shared fixtures: every behavioural test runs on both engines.

`engine` yields an engine's Value class (C first, then the reference), so a
test written once is held to both. `active_engine` makes an engine the
active one for `pygrad.Value`, `pygrad.nn`, ... and restores the previous
choice afterwards. `engine` is session-scoped so that hypothesis tests can
use it. Bitwise float equality is written `repr(a) == repr(b)` throughout:
repr round-trips exactly, tells -0.0 from 0.0 and prints every NaN as nan.
"""
import gc

import pytest

import pygrad
from pygrad._engines import value_class

ENGINE_NAMES = ["c", "python"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (deselect with -m 'not slow')")


@pytest.fixture(params=ENGINE_NAMES, scope="session")
def engine_name(request):
    """The name of the engine under test: "c" or "python"."""
    return request.param


@pytest.fixture(scope="session")
def engine(engine_name):
    """The Value class of the engine under test."""
    return value_class(engine_name)


@pytest.fixture(params=ENGINE_NAMES)
def active_engine(request):
    """Make the engine under test the active one; restore the old one after."""
    before = pygrad.get_engine()
    pygrad.use_engine(request.param)
    yield request.param
    pygrad.use_engine(before)


@pytest.fixture(scope="session")
def C():
    """The C engine's Value class."""
    return value_class("c")


@pytest.fixture(scope="session")
def Ref():
    """The reference engine's Value class."""
    return value_class("python")


@pytest.fixture(scope="session")
def live_nodes():
    """A callable: nodes alive in the C core, after Python dropped what it can."""
    from pygrad.cengine import stats

    def count():
        gc.collect()
        return stats()["live"]
    return count
