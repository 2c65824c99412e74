"""Users get real types: mypy accepts a typed user program and rejects one
with type errors on exactly the lines marked `# error`. Skipped where mypy
is not installed (it is in the [test] extra)."""
import os
import re
import subprocess
import sys

import pytest

import pygrad

HERE = os.path.join(os.path.dirname(__file__), "typing")

pytest.importorskip("mypy")

pytestmark = pytest.mark.slow   # mypy takes a few seconds


def mypy(name):
    # --no-incremental: no cache directory left behind. Run beside the
    # package imported here, so mypy reads that one (an editable install's
    # import hook is invisible to mypy).
    cmd = [sys.executable, "-m", "mypy", "--no-incremental", "--strict-optional",
           "--follow-imports=silent",
           "--config-file", os.devnull, os.path.join(HERE, name)]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(pygrad.__file__)))
    return run.returncode, run.stdout + run.stderr


def test_typed_user_program_passes():
    code, out = mypy("ok_user.py")
    assert code == 0, out


def test_type_errors_in_user_code_are_reported():
    code, out = mypy("bad_user.py")
    assert code == 1, out
    with open(os.path.join(HERE, "bad_user.py")) as f:
        marked = {i for i, line in enumerate(f, 1) if "# error" in line}
    reported = {int(m) for m in re.findall(r"bad_user\.py:(\d+): error", out)}
    assert reported == marked, out
