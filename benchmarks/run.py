"""pygrad's benchmarks: the C engine beside the pure-Python reference,
micrograd, torch (0-d tensors) and hand-written C. Each workload runs in
a fresh process (worker.py), in which the engines alternate round by
round (timing.py).

    python -m benchmarks                  # full mode (a few minutes)
    python -m benchmarks --quick          # CI mode (under a minute)
    python benchmarks/run.py --only backward,eager --engines c,python
    python -m benchmarks --json out.json --plot scaling.png

Prints a table (median, min..max, ratios against the C engine, the
reference engine and hand-written C, the "floor"), checks issue 3's and
issue 5's targets, and writes every raw sample with the machine's
description to a JSON file.
"""
if not __package__:                       # run as a script: python benchmarks/run.py
    import os
    import sys
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.path.append(os.path.dirname(_here))
    from benchmarks.run import main
    sys.exit(main())

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from . import ROOT, config, engines, machine, report, targets
from .plot import scaling_plot
from .progress import Progress
from .results import note_row
from .workloads import WORKLOADS, Context, select
from .workloads.children import describe_exit

DEFAULT_JSON = os.path.join(ROOT, "benchmarks", "results", "latest.json")


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repetitions (CI)")
    p.add_argument("--json", default=DEFAULT_JSON, metavar="PATH",
                   help="where to write raw results (default: benchmarks/results/latest.json)")
    p.add_argument("--plot", metavar="PATH", help="PNG of the scaling curve (needs matplotlib)")
    p.add_argument("--only", metavar="NAME[,NAME]", help=f"workloads (or prefixes): {', '.join(WORKLOADS)}")
    p.add_argument("--engines", default=",".join(engines.ORDER), metavar="NAME[,NAME]",
                   help=f"engines to run: {', '.join(engines.ORDER)} (micrograd brings micrograd-gc-off)")
    p.add_argument("--reps", type=int, help="repetitions per engine (default: 3 quick, 5 full)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.add_argument("--same-process", action="store_true",
                   help="run every workload in this process (default: a fresh process per workload)")
    return p.parse_args(argv)


def _split(text):
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def in_this_process(name, ctx):
    try:
        rows = WORKLOADS[name](ctx)
    except Exception as exc:              # one broken workload must not hide the others
        rows = [note_row(name, e.name, f"workload failed: {type(exc).__name__}: {exc}"[:200])
                for e in ctx.engines]
    ctx.progress.finish()
    return rows


def in_a_worker(name, ctx):
    """The workload in a fresh interpreter (worker.py); its rows come back as JSON."""
    spec = {"workload": name, "engines": [e.name for e in ctx.engines], "cfg": ctx.cfg,
            "progress": ctx.progress.enabled, "floor_path": engines.floor_module_path(ctx.engines)}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        proc = subprocess.run([sys.executable, "-m", "benchmarks.worker", json.dumps(spec), out], cwd=ROOT)
        if proc.returncode == 0 and os.path.exists(out):
            with open(out) as f:
                return json.load(f)
    why = f"workload process failed ({describe_exit(proc.returncode)}; its error is on stderr)"
    return [note_row(name, e.name, why) for e in ctx.engines]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    try:
        names = select(_split(args.only))
        wanted = engines.expand(_split(args.engines))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfg = config.mode(args.quick, reps=args.reps)
    loaded, missing = engines.load(wanted)
    info = machine.info(ROOT, " ".join(["python -m benchmarks"] + argv))
    ctx = Context(loaded, cfg, Progress(enabled=not args.no_progress))

    t0 = time.perf_counter()
    run = in_this_process if args.same_process else in_a_worker
    rows = [r for name in names for r in run(name, ctx)]
    elapsed = time.perf_counter() - t0
    info["loadavg_end"] = machine.loadavg()
    rows = report.order(rows, engines.ORDER)
    report.add_ratios(rows)
    report.add_eager_ratios(rows)

    print(report.header(info, cfg))
    print()
    print(report.table(rows))
    print()
    print("workloads:")
    print(report.legend(rows))
    for name, why in missing.items():
        print(f"skipped engine {name}: {why}")
    print()
    print(targets.text(rows, cfg["mode"]))
    engine_info = {e.name: {"available": True, "version": e.version} for e in loaded}
    engine_info.update({n: {"available": False, "note": why} for n, why in missing.items()})
    report.write_json(args.json, info, cfg, engine_info, rows, elapsed)
    print(f"\nraw samples: {args.json}  ({elapsed:.0f} s)")
    if args.plot:
        why_not = scaling_plot(rows, args.plot)
        print(f"plot: {why_not}" if why_not else f"plot: {args.plot}")
    return 0
