"""The engine switch: PYGRAD_ENGINE, use_engine/get_engine, the names that
follow the active engine, micrograd's import paths, and the op and status
codes shared by Python and the C enum."""
import json
import os
import subprocess
import sys

import pytest

import pygrad
import pygrad.engine
from pygrad import _errors, _ops, nn

PROBE = """
import json, pygrad
from pygrad.engine import Value
from pygrad.nn import MLP
print(json.dumps({
    "engine": pygrad.get_engine(),
    "Value": pygrad.Value.__module__,
    "engine.Value": Value.__module__,
    "mlp": type(MLP(2, [1]).parameters()[0]).__module__,
}))
"""
MODULE = {"c": "pygrad.cengine", "python": "pygrad.reference"}


def run_probe(env_value, cwd):
    # The same pygrad as here: our sys.path, and a working directory that
    # is not the source tree (`python -c` puts the cwd first on sys.path).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop("PYGRAD_ENGINE", None)
    if env_value is not None:
        env["PYGRAD_ENGINE"] = env_value
    return subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env_value, name", [("c", "c"), ("python", "python"), (None, "c")])
def test_environment_variable_picks_the_engine(env_value, name, tmp_path):
    done = run_probe(env_value, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"engine": name, "Value": MODULE[name],
                                       "engine.Value": MODULE[name], "mlp": MODULE[name]}


def test_unknown_engine_in_the_environment_is_an_error(tmp_path):
    done = run_probe("fortran", tmp_path)
    assert done.returncode != 0
    assert "ValueError" in done.stderr and "'c'" in done.stderr and "'python'" in done.stderr


def test_use_engine_switches_everything(engine):
    cls = engine
    name = pygrad.get_engine()
    assert pygrad.use_engine(name) is cls and cls is pygrad.value_class(name)
    assert pygrad.Value is cls and pygrad.ML_Framework is cls and pygrad.engine.Value is cls
    assert cls.__module__ == MODULE[name]
    assert type(pygrad.sum([1.0, 2.0])) is cls
    assert type(pygrad.dot([1.0], [2.0], 3.0)) is cls
    assert pygrad.dot([1.0, 2.0], [3.0, 4.0], 0.5).data == 11.5
    assert all(type(p) is cls for p in nn.MLP(2, [2, 1]).parameters())
    assert all(type(p) is cls for p in nn.SingleLayerNeuron(2).parameters())


def test_micrograd_import_names(engine):
    from pygrad.engine import Value
    from pygrad.nn import MLP
    assert Value is engine
    assert MLP is nn.MLP


def test_engines_import_on_their_own():
    import pygrad.cengine
    import pygrad.reference
    assert pygrad.cengine.Value is not pygrad.reference.Value
    assert set(pygrad.ENGINES) == {"c", "python"}
    assert pygrad.value_class("c") is pygrad.cengine.Value
    assert pygrad.value_class("python") is pygrad.reference.Value


def test_unknown_attributes_are_attribute_errors():
    with pytest.raises(AttributeError):
        pygrad.Tensor  # noqa: B018
    with pytest.raises(AttributeError):
        pygrad.engine.Tensor  # noqa: B018


def test_op_lists_of_both_engines_are_the_same():
    """The C core's op list (csrc/ops.def), Python's (_ops.TABLE) and the
    reference engine's rules name the same ops, with the same codes and arity."""
    from pygrad._ffi import ffi, lib
    c_ops = [(ffi.string(lib.pg_op_name(code)).decode().lower(), lib.pg_op_arity(code))
             for code in range(lib.pg_num_ops())]
    assert c_ops == [(op.name, op.arity) for op in _ops.TABLE]
    assert lib.pg_op_name(lib.pg_num_ops()) == ffi.NULL and lib.pg_op_name(-1) == ffi.NULL
    n_ary = {op.name for op in _ops.TABLE if op.arity < 0}
    assert set(pygrad.reference.RULES) == set(_ops.OPS) - {"leaf"} - n_ary
    assert set(pygrad.reference.NARY_RULES) == n_ary - {"custom", "hook"}   # a user's op brings its own rule


def test_status_codes_match_the_c_enum():
    from pygrad._ffi import lib
    for name in ("OK", "ENOMEM", "EDOMAIN", "EZERODIV", "EOVERFLOW", "EINVAL", "EINDEX", "ENOTINT", "EINTR", "EBUSY"):
        assert getattr(lib, f"PG_{name}") == getattr(_errors, name)


def test_c_stats_report_the_pool():
    from pygrad.cengine import Value, stats
    before = stats()
    keep = [Value(1.0) for _ in range(10)]
    after = stats()
    assert set(after) == {"live", "capacity", "node_bytes", "pool_bytes", "kid_bytes", "made"}
    assert after["live"] == before["live"] + len(keep)
    assert after["made"] == before["made"] + len(keep)
    assert after["capacity"] >= after["live"] and after["node_bytes"] > 0
