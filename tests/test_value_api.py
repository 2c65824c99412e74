"""The operator methods are written once, in ValueBase; the op table names
the method behind each op. Both engines must offer every one of them, the C
engine with its own fast version, and each method must build its own op."""
import pytest

from pygrad import _ops
from pygrad._api import ValueBase
from pygrad._engines import value_class


def method_names():
    for stem in _ops.BINARY:
        yield f"__{stem}__"
        yield f"__r{stem}__"
    yield from _ops.UNARY


def test_every_op_method_is_written_once_and_bound_by_the_c_engine():
    """The C engine's handle serves every op method itself: the C type on
    CPython (its dunders carry CPython's slot docstrings), else the Python
    handle, whose methods keep ValueBase's docstrings."""
    C, Ref = value_class("c"), value_class("python")
    handle = C.__mro__[1]
    for name in method_names():
        base = getattr(ValueBase, name)
        assert getattr(Ref, name) is base, name                    # the reference uses ValueBase's
        assert name in vars(handle), name                          # the C engine's handle binds its own
        if not name.startswith("__") or handle.__module__ == "pygrad.cengine":   # the Python handle
            assert getattr(C, name).__doc__ == base.__doc__, name


@pytest.mark.parametrize("name", list(method_names()))
def test_each_method_builds_its_op(engine, name):
    x = engine(0.5)
    out = getattr(x, name)(2.0) if name.startswith("__") and name not in _ops.UNARY else getattr(x, name)()
    stem = name.strip("_").removeprefix("r") if name.startswith("__r") else name.strip("_")
    if name in _ops.UNARY:
        expected = _ops.UNARY[name]
    else:
        op, kop = _ops.BINARY[stem]
        expected = op if name.startswith("__r") else kop
    assert out._opcode == expected


def test_valuebase_methods_work_on_both_engines(engine):
    # A subclass may call ValueBase's own method (say, from an override).
    x = engine(3.0)
    assert ValueBase.__mul__(x, 2.0).data == 6.0 and ValueBase.__rsub__(x, 1.0).data == -2.0
    assert ValueBase.tanh(x).data == engine(3.0).tanh().data
