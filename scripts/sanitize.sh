#!/usr/bin/env bash
# Build the C core with AddressSanitizer + UBSan into its own venv and run
# the test suite against it (all of it by default; pass pytest arguments to
# run a subset, e.g. `scripts/sanitize.sh -m "not slow"`).
#
# Python itself is not instrumented, so libasan is preloaded; leak checking
# is left to LeakSanitizer-free tools (Python frees little at exit by design):
# the suite's own live-node and RSS tests, and scripts/valgrind.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SANITIZE_VENV:-.venv-sanitize}
python3 -m venv "$venv"
. "$venv/bin/activate"
pip install -q --upgrade pip >/dev/null
PYGRAD_SANITIZE=1 pip install -q --force-reinstall --no-deps --no-cache-dir . 
pip install -q ".[test]"
libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
export LD_PRELOAD="$libasan:$libubsan"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Run from outside the checkout so the instrumented build, not ./pygrad, is imported.
cd tests && python -c "import pygrad._pygrad as m; print('sanitized core:', m.__file__)"
# Deselected: RSS bounds and resident memory (ASan's allocator quarantines freed memory), the
# RLIMIT_AS out-of-memory probe (ASan reserves terabytes of address space),
# and the benchmark suite's tests (they time things and run probes under
# address-space limits; the C core calls they make are the suite's own).
python -m pytest -q -p no:cacheprovider -k "not rss_stays_flat and not resident_memory and not out_of_memory" \
    --ignore=test_benchmarks.py "$@" .
