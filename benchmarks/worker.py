"""One workload in a fresh interpreter, so that each starts from a clean
heap and an unfragmented C pool, and ends without freeing its graphs
(dropping a million micrograd nodes costs its cyclic GC ~10 s):

    python -m benchmarks.worker SPEC_JSON OUT_PATH

SPEC_JSON: {"workload", "engines", "cfg", "progress", "floor_path"} (the floor
as compiled once by the parent). The rows go to
OUT_PATH as JSON; progress goes to the inherited stderr. Engines still
alternate round by round inside this one process.
"""
import json
import os
import sys

from .engines import load
from .progress import Progress
from .workloads import WORKLOADS, Context


def main(argv):
    spec, out_path = json.loads(argv[0]), argv[1]
    loaded, _ = load(spec["engines"], floor_path=spec.get("floor_path"))
    ctx = Context(loaded, spec["cfg"], Progress(enabled=spec["progress"]))
    rows = WORKLOADS[spec["workload"]](ctx)
    ctx.progress.finish()
    with open(out_path, "w") as f:
        json.dump(rows, f, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)          # no teardown: the graphs die with the process
