"""examples/_progress.py: the examples' progress output on and off a terminal."""
import importlib.util
import io
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parent.parent / "examples" / "_progress.py"
spec = importlib.util.spec_from_file_location("examples_progress", PATH)
progress_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(progress_mod)


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_piped_output_is_exactly_the_lines():
    out = io.StringIO()
    report = progress_mod.progress(3, "t", stream=out)
    for k in range(3):
        report(f"step {k}")
    report.close()
    assert out.getvalue() == "step 0\nstep 1\nstep 2\n"


def test_plain_lines_get_an_eta_after_a_few_seconds():
    now = [0.0]
    out = Tty()
    report = progress_mod.Lines(10, out, eta=True, clock=lambda: now[0])
    for k in range(10):
        now[0] += 1.0            # one second a step: 10 s in all
        report(f"step {k}")
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["step 0", "step 1"]                  # under 3 s: no estimate
    assert lines[2] == "step 2  [3/10, ETA 0:07]"             # 3 s for 3 steps, 7 to go
    assert lines[8] == "step 8  [9/10, ETA 0:01]" and lines[9] == "step 9"


def test_a_terminal_with_tqdm_gets_a_bar(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    out = Tty()
    report = progress_mod.progress(4, "training", stream=out)
    assert isinstance(report, progress_mod.Bar) and isinstance(report.bar, tqdm.tqdm)
    for k in range(4):
        report(f"step {k}")
    report.close()
    assert out.getvalue().split() == ["step", "0", "step", "1", "step", "2", "step", "3"]
    assert "training: 100%" in err.getvalue() and "4/4" in err.getvalue()


def test_a_terminal_without_tqdm_gets_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert isinstance(progress_mod.progress(4, "t", stream=Tty()), progress_mod.Lines)
