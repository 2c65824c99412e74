"""Backward ns/node of the C engine on benchmarks/workloads.py's chain and
random DAG, built from Python (process CPU time, median of REPS backward
calls on one graph). Run it with two pygrad builds in turns to compare:
    PYTHONPATH=/path/to/old/site python scripts/backward_ns.py
    python scripts/backward_ns.py"""
import statistics
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))   # benchmarks/; pygrad from PYTHONPATH first
import pygrad  # noqa: E402
from benchmarks.workloads import chain, random_dag  # noqa: E402

NODES, REPS = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000, 5
V = pygrad.use_engine("c")
out = [str(Path(pygrad.__file__).parent)]
for build in (chain, random_dag):
    root, leaves, nodes, _ = build(V, NODES)
    times = []
    for _ in range(REPS):
        t0 = time.process_time()
        root.backward()
        times.append(time.process_time() - t0)
    out.append(f"{build.__name__} {statistics.median(times) / nodes * 1e9:.1f}")
    out.append(f"grads {[repr(x.grad) for x in leaves[:2]]}")
    del root, leaves
print("  ".join(out))
