"""`python -m pygrad`: info, demo and bench, the --engine flag, exit codes,
and the report when the C core does not load. Each run is a fresh
interpreter, started outside the source tree on the pygrad under test.
"""
import os
import platform
import re
import subprocess
import sys

import pytest

import pygrad
import pygrad.__main__ as cli
from pygrad._engines import value_class

# The folder holding the pygrad under test, so the child imports the same one.
PYGRAD_HOME = os.path.dirname(os.path.dirname(os.path.abspath(pygrad.__file__)))
NODE_BYTES = pytest.importorskip("pygrad.cengine").stats()["node_bytes"]


def run(*args, env=None, code=None, cwd, bare=False):
    """Run `python -m pygrad *args` (or `python -c code`); (returncode, stdout lines, stderr).
    `bare`: without site-packages (-S), so only the pygrad in `cwd` can be
    imported, never an installed one (an editable install's finder included)."""
    environ = {k: v for k, v in os.environ.items() if k != "PYGRAD_ENGINE"}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [PYGRAD_HOME, os.environ.get("PYTHONPATH")]))
    if bare:
        environ.pop("PYTHONPATH")
    environ.update(env or {})
    python = [sys.executable, "-S"] if bare else [sys.executable]
    cmd = python + (["-c", code, *args] if code else ["-m", "pygrad", *args])
    proc = subprocess.run(cmd, env=environ, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


def check_info(lines, engine):
    assert len(lines) == 4
    assert lines[0] == f"pygrad {pygrad.__version__} ({os.path.dirname(os.path.abspath(pygrad.__file__))})"
    assert lines[1] == f"engine: {engine} (choose with --engine or PYGRAD_ENGINE=c|python)"
    assert lines[2] == f"C core: loaded, {NODE_BYTES} bytes per node"
    assert lines[3].startswith(f"Python {platform.python_version()} ({platform.python_implementation()}) on ")


@pytest.mark.parametrize("args", [(), ("info",)])
def test_info_is_the_default(args, tmp_path):
    rc, lines, err = run(*args, cwd=tmp_path)
    assert (rc, err) == (0, "")
    check_info(lines, "c")


@pytest.mark.parametrize("args", [("--engine", "python"), ("info", "--engine", "python"),
                                  ("--engine", "c", "info", "--engine", "python")])
def test_engine_flag_before_or_after_the_subcommand(args, tmp_path):
    rc, lines, err = run(*args, cwd=tmp_path)
    assert (rc, err) == (0, "")
    check_info(lines, "python")


def test_engine_from_the_environment(tmp_path):
    rc, lines, _ = run(cwd=tmp_path, env={"PYGRAD_ENGINE": "python"})
    assert rc == 0
    check_info(lines, "python")


def test_unknown_engine_in_the_environment_exits_1(tmp_path):
    rc, lines, _ = run(cwd=tmp_path, env={"PYGRAD_ENGINE": "fortran"})
    assert rc == 1
    assert lines[1] == "engine: not available: unknown pygrad engine 'fortran'; valid engines: 'c', 'python'"
    rc, lines, err = run("demo", cwd=tmp_path, env={"PYGRAD_ENGINE": "fortran"})
    assert rc == 1 and lines == [] and "unknown pygrad engine 'fortran'" in err


@pytest.mark.parametrize("args", [("--engine", "fortran"), ("frobnicate",), ("bench",)])
def test_usage_errors_exit_2(args, tmp_path):
    rc, lines, err = run(*args, cwd=tmp_path)
    assert rc == 2 and lines == [] and "usage: python -m pygrad" in err


# Without its compiled module, as where the C core was never built.
NO_C_CORE = ("import runpy, sys; sys.modules['pygrad._pygrad'] = None; sys.argv[0] = 'pygrad'; "
             "runpy.run_module('pygrad', run_name='__main__')")


def test_says_why_the_c_core_did_not_load(tmp_path):
    rc, lines, err = run(code=NO_C_CORE, cwd=tmp_path)
    assert rc == 0
    assert lines[1].startswith("engine: python ")
    assert lines[2].startswith("C core: not loaded, because pygrad's C core failed to load (")
    assert "pygrad._pygrad" in lines[2]
    assert "pygrad is using its pure-Python engine" in err     # the engine switch's fallback warning
    rc, lines, _ = run("--engine", "c", code=NO_C_CORE, cwd=tmp_path)
    assert rc == 1
    assert lines[1].startswith("engine: not available: pygrad's C core failed to load")


def copy_package(dst, source_tree):
    """pygrad's Python files (no compiled core) in dst/pygrad; with the
    markers of a checkout (csrc/, setup.py) when `source_tree`."""
    src = os.path.dirname(os.path.abspath(pygrad.__file__))
    for folder, _, names in os.walk(src):   # the package and its subpackages (pygrad.optim)
        if "__pycache__" in folder:
            continue
        here = dst / "pygrad" / os.path.relpath(folder, src)
        here.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as f:
                    (here / name).write_text(f.read())
    if source_tree:
        (dst / "csrc").mkdir()
        (dst / "setup.py").write_text("")


SOURCE_TREE = ("you are importing pygrad from the source tree at {}, which has no compiled core; "
               "run `pip install -e .`, or run from another directory")


def test_running_from_a_checkout_without_a_compiled_core_says_so(tmp_path):
    # As after a non-editable install, with Python started in the checkout:
    # the checkout shadows the installed pygrad (cwd comes first on sys.path).
    copy_package(tmp_path, source_tree=True)
    expected = SOURCE_TREE.format(tmp_path)
    rc, lines, err = run(code="import pygrad; print(pygrad.get_engine())", cwd=tmp_path, bare=True)
    assert (rc, lines) == (0, ["python"])
    assert err.count("RuntimeWarning") == 1
    assert f"pygrad is using its pure-Python engine (same results, 10-100x slower) because {expected}." in err
    rc, lines, err = run(cwd=tmp_path, bare=True)
    assert rc == 0
    assert lines[0] == f"pygrad {pygrad.__version__} ({tmp_path / 'pygrad'})"
    assert lines[1].startswith("engine: python ")
    assert lines[2] == f"C core: not loaded, because {expected}"
    rc, lines, err = run("--engine", "c", cwd=tmp_path, bare=True)
    assert rc == 1 and lines[1] == f"engine: not available: {expected}. " \
        "The pure-Python engine works without it: PYGRAD_ENGINE=python"


def test_an_install_without_the_core_names_the_reason(tmp_path):
    # setup.py leaves _no_core.txt in the package when the build failed or was skipped.
    copy_package(tmp_path, source_tree=False)
    (tmp_path / "pygrad" / "_no_core.txt").write_text("the build failed (CompileError: no compiler)\n")
    rc, lines, err = run(cwd=tmp_path, bare=True)
    assert rc == 0
    assert lines[2] == ("C core: not loaded, because pygrad's C core was not built when pygrad was installed: "
                        "the build failed (CompileError: no compiler); install a C compiler and reinstall "
                        "(PYGRAD_BUILD_C=1 makes a failed build an error)")
    assert "the build failed (CompileError: no compiler)" in err and "source tree" not in err


# -- demo ---------------------------------------------------------------------


def test_demo_trains_on_both_engines_alike(tmp_path):
    outputs = {}
    for engine in ("c", "python"):
        rc, lines, err = run("demo", "--engine", engine, cwd=tmp_path)
        assert (rc, err) == (0, "")
        assert lines[0] == f"pygrad engine: {engine}"
        outputs[engine] = lines[1:]
    lines = outputs["c"]
    assert lines == outputs["python"]                          # the same numbers, line for line
    # the tutorial's first losses and its prediction, digit for digit
    assert "  Epoch 0, Loss: 3.2761" in lines and "  Epoch 2, Loss: 1.3418905599999997" in lines
    assert "Predicted price for a 5-bedroom house: $498000.00" in lines
    losses = [float(m.group(1)) for m in map(re.compile(r"  step +\d+ loss (\S+)$").match, lines) if m]
    assert len(losses) >= 3 and losses[-1] < 0.01 * losses[0]
    preds = [float(t) for t in lines[-1].split(":")[1].split()]
    assert lines[-2].split(":")[1].split() == ["+1.00", "-1.00", "-1.00", "+1.00"]
    assert all(abs(p - t) < 0.1 for p, t in zip(preds, (1, -1, -1, 1)))


# -- in process ---------------------------------------------------------------


@pytest.fixture
def keep_engine():
    before = pygrad.get_engine()
    yield
    pygrad.use_engine(before)


def test_in_process_demo_uses_the_chosen_engine(capsys, keep_engine):
    assert cli.main(["demo", "--engine", "python"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pygrad engine: python\n")
    assert pygrad.get_engine() == "python" and pygrad.Value is value_class("python")
