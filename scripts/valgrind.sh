#!/usr/bin/env bash
# Run scripts/memcheck_workload.py under valgrind memcheck against the
# installed pygrad. Fails on any memory error or definitely-lost block whose
# stack passes through the C core (a pg_* function). CPython's own reports
# (uninitialised reads in its int/urandom code, one-time module-init blocks)
# are listed in the log but are not ours to fix.
set -euo pipefail
cd "$(dirname "$0")"
log=${VALGRIND_LOG:-/tmp/pygrad-valgrind.log}
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full \
    --show-leak-kinds=definite --num-callers=30 --log-file="$log" \
    "${PYTHON:-python3}" memcheck_workload.py
"${PYTHON:-python3}" - "$log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
records = re.split(r"\n==\d+== \n", text)
ours = [r for r in records
        if re.search(r"Invalid|uninitialised|definitely lost|Mismatched|free\(\)", r)
        and re.search(r"\bpg_\w+ \(", r)]
summary = re.findall(r"(definitely lost: .*|ERROR SUMMARY: .*)", text)
print("\n".join(summary))
for r in ours:
    print(r)
print(f"{len(ours)} report(s) in the C core (full log: {sys.argv[1]})")
sys.exit(1 if ours else 0)
PY
