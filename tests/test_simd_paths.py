"""Every vector family of the dense-layer kernels gives the same bits.

The C core compiles the layer kernels (csrc/layer_kernels.h) once per
family of csrc/vec.h: scalar (1 double), vec2 (2) and, on x86, avx (4).
PYGRAD_SIMD, read at the first run, forces one, so one build can run them
all; pygrad._coreinfo.simd_path() names the one in use. The same compiled
MLP training run, in one subprocess per setting, must give identical
values and grads on every path, and the reference engine's numbers.
"""
import json
import os
import subprocess
import sys

import pytest

from pygrad import _coreinfo

pytest.importorskip("numpy")
pytestmark = pytest.mark.skipif(_coreinfo.simd_path() is None, reason="the C core is not built")

# Layer widths that leave partial groups on every family (G = 1, 2 or 4
# outputs at a time) and weight tiles with scalar tails (11 and 9 inputs);
# 21 rows: two blocks of 8 and a 5-row tail block, all through the kernels.
SCRIPT = r"""
import json, random
import numpy as np
import pygrad
from pygrad import nn
from pygrad._coreinfo import simd_path

rng = random.Random(5)
V = pygrad.Value
model = nn.MLP(11, [9, 6, 1])
for p in model.parameters():
    p.data = rng.uniform(-1, 1)
xs = [V(0.0) for _ in range(11)]
y = V(0.0)
out = model(xs)
step = pygrad.compile((out - y) ** 2, inputs=xs + [y], params=model.parameters())
score = pygrad.compile(out, inputs=xs, params=model.parameters())
opt = pygrad.optim.SGD(model.parameters(), lr=0.05)
batch = np.array([[rng.uniform(-2, 2) for _ in range(12)] for _ in range(21)])
bits = []
for _ in range(3):
    bits += [repr(float(v)) for v in step.accumulate(batch, scale=1 / 21)]
    bits += [repr(p.grad) for p in model.parameters()]
    opt.step()
    opt.zero_grad()
bits += [repr(float(v)) for v in score.forward_batch(batch[:, :11])]
print(json.dumps({"engine": pygrad.get_engine(), "path": simd_path(), "bits": bits}))
"""


def expected_path(requested):
    """What PYGRAD_SIMD=requested gives: that family if this build and CPU
    run it, else the fastest they do (an unset or unknown name: the fastest)."""
    best = _coreinfo.simd_best()
    paths = _coreinfo.SIMD_PATHS
    if requested in paths and paths.index(requested) <= paths.index(best):
        return requested
    return best


def run_all(settings):
    """SCRIPT in one subprocess per setting (env changes), run side by side."""
    procs = []
    for change in settings:
        env = {k: v for k, v in os.environ.items() if k not in ("PYGRAD_SIMD", "PYGRAD_ENGINE")}
        env.update(change)
        procs.append(subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_this_process_runs_the_path_it_asked_for():
    # Under CI's forced runs (PYGRAD_SIMD set for the whole suite) this
    # checks that the setting took effect in the process running the tests.
    assert _coreinfo.simd_best() in _coreinfo.SIMD_PATHS
    assert _coreinfo.simd_path() == expected_path(os.environ.get("PYGRAD_SIMD"))


def test_every_path_gives_the_same_bits_as_the_reference_engine():
    settings = [{"PYGRAD_SIMD": p} for p in _coreinfo.SIMD_PATHS]
    settings += [{}, {"PYGRAD_SIMD": "no-such-path"}, {"PYGRAD_ENGINE": "python"}]
    *forced, default, unknown, reference = run_all(settings)
    assert reference["engine"] == "python"
    assert len(reference["bits"]) > 200
    # On PyPy the reference engine's own run differs from CPython's in one
    # value by one ulp (seen with PyPy 3.9 7.3: its JIT's float code), while
    # every C path gives CPython's bits: there the paths are held to the C
    # engine's default run, which CPython's run of this test holds to the
    # reference engine.
    truth = reference["bits"] if sys.implementation.name == "cpython" else default["bits"]
    for path, result in zip(_coreinfo.SIMD_PATHS, forced):
        assert result["engine"] == "c"
        assert result["path"] == expected_path(path)
        assert result["bits"] == truth, f"PYGRAD_SIMD={path} differs from the reference engine"
    assert default["path"] == unknown["path"] == _coreinfo.simd_best()
    assert default["bits"] == unknown["bits"] == truth
    # on this machine, the paths really were different code
    assert len({r["path"] for r in forced}) == _coreinfo.SIMD_PATHS.index(_coreinfo.simd_best()) + 1
