"""pygrad's benchmarks: `python -m benchmarks [--quick] [--engine MODULE:CLASS]
[--json F] [--markdown F] [--csv F] [--plot F]` (all flags: --help).

Run from the repository root, the source tree's `pygrad/` folder would
shadow the installed, compiled pygrad, so the root moves to the end of
sys.path: an installed pygrad wins, and the source tree stays a fallback.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if "pygrad" not in sys.modules:
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != ROOT] + [ROOT]
