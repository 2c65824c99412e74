"""The C engine's handle: a C type on CPython (pygrad/_handle.c), a Python
class on PyPy or with PYGRAD_C_HANDLE=0. Both must be the same engine:
same numbers bit for bit, same errors, same node accounting."""
import os
import struct
import subprocess
import sys

import pytest

from pygrad import _ffi, cengine

C_HANDLE_EXPECTED = sys.implementation.name == "cpython" and os.environ.get("PYGRAD_C_HANDLE", "1") != "0"

# A microgpt-like expression: every operator both ways round, ints, floats,
# the unary methods, a backward; prints the bytes of every data and grad.
PROGRAM = r"""
import struct, pygrad
V = pygrad.Value
xs = [V(0.1 * i - 0.35) for i in range(8)]
w = [V(0.05 * i + 0.01) for i in range(8)]
s = sum(wi * xi for wi, xi in zip(w, xs))
ms = sum(x * x for x in xs) / len(xs)
scale = (ms + 1e-5) ** -0.5
logits = [(x * scale - s).exp() for x in xs]
total = sum(logits)
probs = [e / total for e in logits]
loss = -probs[3].log() + 2 ** xs[1] - 3 / (abs(xs[2]) + 1) + xs[4].relu() * xs[5].tanh() + (-xs[6]).sigmoid()
loss = 0.5 * loss - 1 + (1 - loss) * 0.25
loss.backward()
print(" ".join(struct.pack("<d", v).hex() for p in xs + w + [loss] for v in (p.data, p.grad)))
"""


def run_program(c_handle):
    env = dict(os.environ, PYGRAD_ENGINE="c", PYGRAD_C_HANDLE="1" if c_handle else "0")
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_cpython_gets_the_c_handle():
    """A build that silently lost the C type would still pass every other
    test, only slower: say so here."""
    if C_HANDLE_EXPECTED:
        assert _ffi.Handle is not None and cengine.Value.__mro__[1] is _ffi.Handle
    else:
        assert cengine.Value.__mro__[1] is cengine._PyHandle


def test_both_handles_compute_the_same_bits():
    c, py = run_program(True), run_program(False)
    assert len(c) == 34 and c == py
    exec_globals = {}
    exec(compile(PROGRAM.replace("print(", "result = ("), "<program>", "exec"), exec_globals)
    assert exec_globals["result"].split() == c     # this process's handle too


@pytest.mark.skipif(_ffi.Handle is None, reason="the C handle type is not in this build")
def test_a_handle_without_a_node_holds_none_and_frees_none(live_nodes):
    before = live_nodes()
    h = _ffi.Handle.__new__(cengine.Value)
    assert h._id == -1
    assert struct.pack("<d", h.data) == struct.pack("<d", float("nan"))
    with pytest.raises(ValueError):
        h.data = 1.0          # no node to write to
    del h
    assert live_nodes() == before
    with pytest.raises(TypeError, match="subclass Handle"):
        _ffi.Handle._bind(int, None, None, None)


def test_data_and_grad_cannot_be_deleted(engine):
    v = engine(1.0)
    for name in ("data", "grad"):
        with pytest.raises(AttributeError):
            delattr(v, name)
    assert (v.data, v.grad) == (1.0, 0.0)


def test_operator_results_free_their_nodes(engine, live_nodes):
    if engine is not cengine.Value:
        pytest.skip("node accounting is the C engine's")
    a, b = engine(0.5), engine(-2.0)
    before = live_nodes()
    for _ in range(2000):
        c = (a * b + 1) ** 2 - a / b + 3 * a - 2 ** a + (-a).exp() + abs(b).log()
    assert live_nodes() == before + 19     # c and the 18 nodes below it (number operands are leaves)
    del c
    assert live_nodes() == before


@pytest.mark.skipif(_ffi.Handle is None, reason="the C handle type is not in this build")
def test_the_handle_type_before_the_engine_is_imported_raises():
    """pygrad._ffi publishes the type before pygrad.cengine binds it to Value:
    using it in between is an error, not a crash."""
    code = ("import sys, pygrad._ffi as f\n"
            "assert 'pygrad.cengine' not in sys.modules\n"
            "h = f.Handle.__new__(f.Handle)\n"
            "for op in (lambda: h * h, lambda: h * 2.0, lambda: 2 ** h, lambda: h.exp(), lambda: -h):\n"
            "    try:\n        op()\n    except RuntimeError as e:\n        assert 'before pygrad.cengine' in str(e)\n"
            "    else:\n        raise SystemExit('no error')\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr


def test_three_argument_pow_is_a_type_error(engine):
    """pow(v, k, m) means nothing for a real: a TypeError on every handle
    (the C type's power slot declines it; Python methods take two arguments)."""
    v = engine(2.0)
    for args in ((v, 2, 3), (v, engine(2.0), 3)):
        with pytest.raises(TypeError):
            pow(*args)
    assert pow(v, 2).data == 4.0
