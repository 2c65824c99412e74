"""pygrad's benchmark suite: `python -m benchmarks [--quick]` (see run.py).

Run from the repository root, the source tree's `pygrad/` folder would
shadow the installed, compiled pygrad (the source tree has no compiled
core unless built in place). So the repository root moves to the end of
sys.path: an installed pygrad wins, and the source tree stays a fallback.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _prefer_installed_pygrad():
    if "pygrad" in sys.modules:
        return
    here = [p for p in sys.path if os.path.abspath(p or os.curdir) == ROOT]
    for p in here:
        sys.path.remove(p)
    sys.path.append(ROOT)


_prefer_installed_pygrad()
