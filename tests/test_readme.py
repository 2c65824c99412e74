"""Every ```python block of README.md runs as written, on its own, on both
engines, and prints what the README says it prints.

A block runs as a script in a fresh interpreter (so it can use no name from
another block), in an empty folder, with PYGRAD_ENGINE naming the engine.
Its expected output is written in the README as the comment of each
top-level `print(...)` line, up to the first double space (after which a
note may follow): `print(y.data)   # 9.0   (a note)` expects the line
"9.0". The lines printed must be exactly those, in order.
"""
import io
import os
import re
import subprocess
import sys
import tokenize

import pytest

import pygrad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
PYGRAD_HOME = os.path.dirname(os.path.dirname(os.path.abspath(pygrad.__file__)))


def python_blocks(path=README):
    """(first line number, source) of each ```python block."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M)]


def expected_output(source):
    """The comment of every top-level print(...) line, up to a double space."""
    expected = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and tok.line.startswith("print("):
            expected.append(tok.string[1:].strip().split("  ")[0])
    return expected


# Training blocks take >10 s on the pure-Python engine: slow (CI runs them).
BLOCKS = [pytest.param(line, src, id=f"line{line}",
                       marks=[pytest.mark.slow] if "pygrad.compile(" in src else [])
          for line, src in python_blocks()]


def test_the_readme_has_the_blocks_this_test_expects():
    # A guard against the pattern silently matching nothing.
    blocks = python_blocks()
    assert len(blocks) >= 5
    assert all(expected_output(src) for _, src in blocks if "print(" in src)


@pytest.mark.parametrize("line, source", BLOCKS)
def test_readme_block_runs_and_prints_what_it_says(line, source, engine, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYGRAD_ENGINE"}
    env["PYGRAD_ENGINE"] = pygrad.get_engine()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PYGRAD_HOME, os.environ.get("PYTHONPATH")]))
    script = tmp_path / "block.py"
    script.write_text(source, encoding="utf-8")
    done = subprocess.run([sys.executable, "-W", "error", str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"README.md block at line {line} failed:\n{done.stderr}"
    assert done.stdout.splitlines() == expected_output(source), f"README.md block at line {line}"
