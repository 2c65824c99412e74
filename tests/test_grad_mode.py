"""pygrad.no_grad(): ops build no graph on either engine, values are
unchanged, the setting nests and is restored, and it works as a decorator."""
import pytest

import pygrad

C, Ref = pygrad.value_class("c"), pygrad.value_class("python")


def _expr(V, x):
    return (x * x + 2 ** x - x / 3).tanh() + V.dot([x, x], [x, 1.0], 0.5)


def test_no_graph_is_built_but_values_are_the_same(engine):
    V = pygrad.Value
    x = V(0.75)
    with_graph = _expr(V, x)
    with pygrad.no_grad():
        assert not pygrad.is_grad_enabled()
        plain = _expr(V, x)
    assert pygrad.is_grad_enabled()
    assert repr(plain.data) == repr(with_graph.data)
    assert plain._prev == set() and plain._op == ""
    with pytest.raises(RuntimeError, match="no_grad.*no graph"):   # as PyTorch: it does not require grad
        plain.backward()
    assert x.grad == 0.0 and plain.grad == 0.0
    with_graph.backward()
    assert x.grad != 0.0


def test_no_grad_keeps_no_c_nodes_alive(live_nodes):
    x = C(1.5)
    before = live_nodes()
    with pygrad.no_grad():
        y = _expr(C, x)
    assert live_nodes() - before == 1       # y alone: no intermediates kept
    del y
    assert live_nodes() == before


def test_nesting_restores_the_outer_setting(engine):
    with pygrad.no_grad():
        with pygrad.no_grad():
            pass
        assert not pygrad.is_grad_enabled()
        y = pygrad.Value(2.0) * 3
        assert y._op == ""
    assert pygrad.is_grad_enabled()
    assert (pygrad.Value(2.0) * 3)._op == "*"


def test_restored_after_an_exception(engine):
    with pytest.raises(ZeroDivisionError), pygrad.no_grad():
        pygrad.Value(1.0) / 0
    assert pygrad.is_grad_enabled()
    assert (pygrad.Value(2.0) + 1)._op == "+"


def test_errors_are_the_same_without_a_graph(engine):
    with pygrad.no_grad():
        for bad, exc in ((lambda: engine(1.0) / 0, ZeroDivisionError), (lambda: engine(-1.0).log(), ValueError),
                         (lambda: engine(1e3).exp(), OverflowError)):
            with pytest.raises(exc):
                bad()


@pytest.mark.parametrize("decorate", [pygrad.no_grad(), pygrad.no_grad], ids=["called", "bare"])
def test_as_a_decorator(engine, decorate):
    @decorate
    def evaluate(x):
        """Docstring kept."""
        return x * x + 1

    assert evaluate.__name__ == "evaluate" and evaluate.__doc__ == "Docstring kept."
    out = evaluate(pygrad.Value(3.0))
    assert out.data == 10.0 and out._prev == set()
    assert pygrad.is_grad_enabled()


def test_one_instance_reused_and_nested(engine):
    ng = pygrad.no_grad()
    with ng:
        with ng:
            assert not pygrad.is_grad_enabled()
        assert not pygrad.is_grad_enabled()
    assert pygrad.is_grad_enabled()
    with ng:
        assert (pygrad.Value(1.0) + 1)._op == ""
    assert (pygrad.Value(1.0) + 1)._op == "+"

    @ng
    def inner():
        return pygrad.is_grad_enabled()

    with ng:
        assert inner() is False
        assert not pygrad.is_grad_enabled()
    assert pygrad.is_grad_enabled()


def test_set_grad_enabled_switches_both_engines():
    was = pygrad.set_grad_enabled(False)
    try:
        assert was is True
        assert (C(2.0) * C(3.0))._op == "" and (Ref(2.0) * Ref(3.0))._op == ""
    finally:
        pygrad.set_grad_enabled(True)
    assert (C(2.0) * C(3.0))._op == "*" and (Ref(2.0) * Ref(3.0))._op == "*"
