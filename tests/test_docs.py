"""The documentation site (docs/, mkdocs.yml) is true:

- every ```python block of docs/*.md runs as written, on both engines, and
  prints what its `print(...)  # expected` comments say (the same rules as
  tests/test_readme.py, whose helpers this reuses);
- every public name has a docstring, and `help(Value)` starts with what a
  user calls, `Value(data, *, label='')`, on both engines (CI runs this file
  again with PYGRAD_C_HANDLE=0, so both C handles too);
- the site builds with warnings as errors and has an entry, with its
  signature, for every public name (slow: it runs mkdocs).
"""
import doctest
import glob
import inspect
import os
import pydoc
import re
import subprocess
import sys

import pytest
from test_readme import PYGRAD_HOME, ROOT, expected_output, python_blocks

import pygrad
import pygrad._api
import pygrad.engine
import pygrad.nn
import pygrad.optim

DOCS = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))

# Training blocks take seconds on the pure-Python engine: slow (CI runs them).
BLOCKS = [pytest.param(path, line, src, id=f"{os.path.basename(path)}:{line}",
                       marks=[pytest.mark.slow] if "# slow" in src.splitlines()[0] else [])
          for path in DOCS for line, src in python_blocks(path)]


def test_the_docs_have_the_pages_and_blocks_this_test_expects():
    # A guard against the glob or the pattern silently matching nothing.
    names = {os.path.basename(p) for p in DOCS}
    assert {"index.md", "from-micrograd.md", "compiled.md", "engines.md", "performance.md", "api.md"} <= names
    assert len(BLOCKS) >= 8
    assert all(expected_output(src) for _, _, src in (b.values for b in BLOCKS) if "print(" in src)


@pytest.mark.parametrize("path, line, source", BLOCKS)
def test_docs_block_runs_and_prints_what_it_says(path, line, source, engine, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYGRAD_ENGINE"}
    env["PYGRAD_ENGINE"] = pygrad.get_engine()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PYGRAD_HOME, os.environ.get("PYTHONPATH")]))
    script = tmp_path / "block.py"
    script.write_text(source, encoding="utf-8")
    done = subprocess.run([sys.executable, "-W", "error", str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    where = f"{os.path.relpath(path, ROOT)} block at line {line}"
    assert done.returncode == 0, f"{where} failed:\n{done.stderr}"
    assert done.stdout.splitlines() == expected_output(source), where


# -- help() and docstrings ----------------------------------------------------

def test_help_value_starts_with_what_a_user_calls(engine):
    text = pydoc.render_doc(engine, renderer=pydoc.plaintext)
    lines = [line.strip(" |") for line in text.splitlines()]
    head = lines[:lines.index("Method resolution order:")]
    assert "Value(data, children=(), local_grads=None, *, label='')" in head, text[:800]
    assert str(inspect.signature(engine)) == "(data, children=(), local_grads=None, *, label='')"
    doc = inspect.getdoc(engine)
    assert doc.startswith("A scalar and its gradient"), doc
    for internal in ("handle", "node id", "__new__", "_children"):
        assert internal not in doc


def test_the_signature_help_shows_is_what_value_takes(engine):
    # label is keyword-only, as shown: a second positional argument is the
    # children of a user's op (microgpt's and micrograd's forms).
    v = engine(2, label="x")
    assert (repr(v.data), v.label) == ("2.0", "x")
    y = engine(3.0, children=(v,), local_grads=(0.5,))
    y.backward()
    assert (y.data, v.grad) == (3.0, 0.5)
    with pytest.raises(TypeError, match="children are Values"):
        engine(2.0, "x")


def public_objects():
    """(qualified name, object) of every documented public name."""
    found = [(f"pygrad.{n}", getattr(pygrad, n)) for n in pygrad.__all__ if n not in ("__version__", "ENGINES")]
    found += [(f"pygrad.nn.{n}", getattr(pygrad.nn, n)) for n in pygrad.nn.__all__]
    found += [(f"pygrad.optim.{n}", getattr(pygrad.optim, n)) for n in ("Optimizer", "SGD", "Adam")]
    return found


def value_members(V):
    return [n for n in dir(V) if not n.startswith("_")] + ["_prev", "_op", "_backward"]


def test_every_public_name_has_a_docstring(engine):
    missing = [name for name, obj in public_objects() if not (inspect.getdoc(obj) or "").strip()]
    missing += [f"Value.{n}" for n in value_members(engine) if not (inspect.getdoc(getattr(engine, n)) or "").strip()]
    assert not missing, missing


# -- the site -------------------------------------------------------------------

@pytest.mark.slow
def test_the_site_builds_strict_with_an_entry_for_every_public_name(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    anchors = [name for name, _ in public_objects()]
    anchors += [f"pygrad._api.ValueBase.{n}" for n in value_members(pygrad.value_class())]
    # names re-exported from a submodule are documented at their home
    homes = {"pygrad.gradcheck": "pygrad.gradcheck.gradcheck", "pygrad.optim": "pygrad.optim",
             "pygrad.Value": "pygradvaluedata-label", "pygrad.ML_Framework": "pygradvaluedata-label"}
    missing = [a for a in anchors if f'id="{homes.get(a, a)}"' not in html]
    assert not missing, missing
    # each entry shows its signature: a function's name followed by its parameters
    assert "doc-signature" in html and html.count("doc-signature") >= 40


# -- install text -----------------------------------------------------------------

def user_text_files():
    """README, the docs pages and pygrad's own sources (its messages)."""
    return ([os.path.join(ROOT, "README.md")] + DOCS
            + sorted(glob.glob(os.path.join(os.path.dirname(pygrad.__file__), "*.py"))))


def test_no_user_text_installs_pygrad_from_the_package_index():
    # pygrad is not on PyPI yet: `pip install pygrad-cffi` (or `pygrad`)
    # would fail, or install another project. Install text names a checkout
    # (`.`, `-e .`, `".[extra]"`) or a wheel file.
    bad = []
    for path in user_text_files():
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if re.search(r"pip install\b[^`\n]*?(?<![\w/.-])pygrad(-cffi)?(?![\w/.*-])", line):
                    bad.append(f"{os.path.relpath(path, ROOT)}:{n}: {line.strip()}")
    assert not bad, bad


def test_the_core_load_advice_is_a_command_that_can_work():
    from pygrad._coreinfo import why_no_core
    advice = why_no_core(OSError("test"))
    assert "pygrad-cffi" not in advice and "pip install --force-reinstall --no-cache-dir ." in advice


def test_the_readme_set_up_commands_install_editable():
    # An editable install builds the C core into the checkout, so a Python
    # started in the checkout root (which imports the source tree) gets it.
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        first_block = re.search(r"^```bash\n(.*?)^```$", f.read(), re.S | re.M).group(1)
    installs = re.findall(r"pip install [^&\n]*", first_block)
    assert len(installs) >= 2
    assert all(cmd.startswith("pip install -e ") for cmd in installs), installs


def test_no_module_of_pygrad_shadows_the_standard_library():
    # A script run from pygrad/ (`python pygrad/_build.py`) has that folder
    # first on sys.path: a pygrad/select.py would stand in for `select`.
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:
        pytest.skip("sys.stdlib_module_names is Python 3.10+")
    package = os.path.dirname(pygrad.__file__)
    names = {os.path.splitext(n)[0] for n in os.listdir(package) if n.endswith(".py")}
    assert not names & set(stdlib)


def test_python_started_in_the_checkout_root_gets_this_engine_set_up():
    # What the README's set-up gives: the checkout's own pygrad, with the
    # C engine whenever the C core is built here.
    from pygrad._engines import cengine_or_none
    code = "import pygrad, os; print(os.path.dirname(os.path.dirname(pygrad.__file__))); print(pygrad.get_engine())"
    env = {k: v for k, v in os.environ.items() if k not in ("PYGRAD_ENGINE", "PYTHONPATH")}
    done = subprocess.run([sys.executable, "-c", code], cwd=PYGRAD_HOME, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    home, engine = done.stdout.split()
    assert home == PYGRAD_HOME
    assert engine == ("c" if cengine_or_none() is not None else "python"), done.stderr


def test_docstring_examples_run(engine):
    # The API reference shows the docstrings: their >>> examples run too.
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for mod in (pygrad, pygrad._api, pygrad.nn, pygrad.optim, pygrad.compiled)
             for t in finder.find(mod, globs={"Value": engine, "pygrad": pygrad}) if t.examples]
    assert tests, "no docstring examples found"
    for t in tests:
        runner.run(t)
    assert runner.failures == 0, runner.summarize()
