"""Every import path that the README and the docs show passes the strictest
settings of both common type checkers: `mypy --strict` and pyright's
"strict" mode (what Pylance runs) accept tests/typing/documented_imports.py,
a user script that imports pygrad by each of those paths. pyright is
skipped where it cannot run (it is a node program: the [test] extra
installs its wrapper on CPython; node comes from the system)."""
import ast
import json
import os
import shutil
import subprocess
import sys

import pytest

import pygrad

HERE = os.path.join(os.path.dirname(__file__), "typing")
USER_SCRIPT = os.path.join(HERE, "documented_imports.py")
# The folder that holds the pygrad imported here: an editable install's
# import hook is invisible to static checkers, so they are pointed at it
# (for pyright through PYTHONPATH, so that pygrad is a library to it, as
# for a user: only then does it check what the package exports).
PYGRAD_HOME = os.path.dirname(os.path.dirname(os.path.abspath(pygrad.__file__)))

pytestmark = pytest.mark.slow   # each checker takes a few seconds


def test_mypy_strict_accepts_every_documented_import_path():
    pytest.importorskip("mypy")
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
           "--config-file", os.devnull, USER_SCRIPT]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=PYGRAD_HOME, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def pyright_command():
    """The pyright command line, or None where pyright cannot run here."""
    exe = shutil.which("pyright", path=os.path.dirname(sys.executable)) or shutil.which("pyright")
    if exe is None or shutil.which("node") is None:
        return None
    try:
        probe = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120, env=pyright_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [exe] if probe.returncode == 0 else None


def pyright_env():
    # Do not ask the index for a newer pyright; find pygrad as a user would.
    return dict(os.environ, PYRIGHT_PYTHON_IGNORE_WARNINGS="1", PYTHONPATH=PYGRAD_HOME)


def test_pyright_strict_accepts_every_documented_import_path(tmp_path):
    cmd = pyright_command()
    if cmd is None:
        pytest.skip("pyright (and node) not available")
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps({"typeCheckingMode": "strict"}))
    run = subprocess.run(cmd + ["-p", str(config), "--pythonpath", sys.executable, USER_SCRIPT],
                         capture_output=True, text=True, timeout=300, env=pyright_env(), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 errors" in run.stdout, run.stdout


def test_the_user_script_uses_every_public_name():
    # The script must not drift behind the API: each name in pygrad.__all__
    # and pygrad.engine.__all__ appears in it.
    with open(USER_SCRIPT, encoding="utf-8") as f:
        text = f.read()
    import pygrad.engine
    missing = [n for n in pygrad.__all__ + pygrad.engine.__all__ if n not in text and n != "__version__"]
    assert not missing, missing


def documented_paths():
    """Each `import pygrad...` / `from pygrad... import ...` statement and
    each `pygrad.<name>` reference in the python blocks of README.md and
    docs/, as lines of a script (so a new page is covered as it is written)."""
    from test_docs import DOCS
    from test_readme import README, python_blocks
    imports, refs = {"import pygrad"}, set()
    for path in [README] + DOCS:
        for _, source in python_blocks(path):
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    imports |= {f"import {a.name}" for a in node.names if a.name.split(".")[0] == "pygrad"}
                elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pygrad":
                    imports |= {f"from {node.module} import {a.name}" for a in node.names}
                    refs |= {a.name for a in node.names}
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "pygrad":
                    refs.add(f"pygrad.{node.attr}")
    # each name is used once, so that no import is an unused one
    return sorted(imports) + [f"print({ref})" for ref in sorted(refs)]


def test_the_documented_paths_script_is_not_empty():
    lines = documented_paths()
    assert "from pygrad.engine import Value" in lines and "print(pygrad.compile_fn)" in lines, lines


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_every_import_in_the_docs_and_readme_passes_strict(checker, tmp_path):
    script = tmp_path / "docs_imports.py"
    script.write_text("\n".join(documented_paths()) + "\n")
    if checker == "mypy":
        pytest.importorskip("mypy")
        cmd = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
               "--config-file", os.devnull, str(script)]
        run = subprocess.run(cmd, capture_output=True, text=True, cwd=PYGRAD_HOME, timeout=300)
    else:
        cmd = pyright_command()
        if cmd is None:
            pytest.skip("pyright (and node) not available")
        (tmp_path / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "strict"}))
        run = subprocess.run(cmd + ["-p", str(tmp_path / "pyrightconfig.json"), "--pythonpath", sys.executable,
                                    str(script)], capture_output=True, text=True, timeout=300,
                             env=pyright_env(), cwd=tmp_path)
    assert run.returncode == 0, script.read_text() + run.stdout + run.stderr
