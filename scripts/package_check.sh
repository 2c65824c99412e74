#!/usr/bin/env bash
# Build an sdist and a wheel, install each into a fresh venv and run a smoke
# test there, outside the checkout: the sdist must carry csrc/ (MANIFEST.in)
# and build; the wheel must work with no compiler involved.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/build-env"
"$work/build-env/bin/pip" install -q build
"$work/build-env/bin/python" -m build --outdir "$work/dist" . >/dev/null
ls "$work/dist"
smoke='
import random, pygrad
from pygrad.nn import MLP
assert pygrad.get_engine() == "c", pygrad.get_engine()
random.seed(0)
model = MLP(2, [8, 1])
data = [([0.5, -1.0], 1.0), ([-0.5, 1.0], -1.0)]
for step in range(20):
    loss = pygrad.sum([(1 - y * model(x)).relu() for x, y in data])
    model.zero_grad(); loss.backward()
    for p in model.parameters():
        p.data -= 0.05 * p.grad
print("smoke ok: C engine, final loss", loss.data)
'
for artifact in "$work"/dist/*.whl "$work"/dist/*.tar.gz; do
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q "$artifact"
    (cd "$work" && "$work/venv/bin/python" -c "$smoke") || { echo "FAILED: $artifact"; exit 1; }
    echo "installed and ran: $(basename "$artifact")"
    rm -rf "$work/venv"
done
