"""python -m benchmarks: time pygrad's two engines beside micrograd (when
installed) and a hand-written C floor; print a table of medians, check that
the engines computed the floor's numbers (exit 1 if not), optionally write
every raw sample (--json) and the scaling plot (--plot). Usage: README.md.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from . import ROOT
from .harness import ENGINES, load
from .workloads import FULL, QUICK, WORKLOADS, Context


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repetitions")
    p.add_argument("--only", help=f"comma-separated workloads: {', '.join(WORKLOADS)}")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines (default: all installed)")
    p.add_argument("--reps", type=int, help="samples per engine (default: 3 quick, 5 full)")
    p.add_argument("--json", metavar="PATH", help="write the raw samples and the machine's description")
    p.add_argument("--plot", metavar="PATH", help="PNG of backward time per node against graph size (matplotlib)")
    p.add_argument("--cpp", metavar="PATH", help="a C++ microgpt executable to time beside the engines")
    p.add_argument("--microgpt-data", metavar="FILE", help="microgpt's documents, one per line, or `names` for "
                   "the names package's first names (default: made-up three-letter names)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def machine(argv):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() if shutil.which("git") else ""
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return {"command": " ".join(["python -m benchmarks", *argv]), "python": platform.python_version(),
            "platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "commit": commit,
            "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None}


def table(results):
    """One line per workload and engine: median, range, and the ratio to the C engine's median."""
    c = {(r["workload"], r.get("n")): r["median"] for r in results if r["engine"] == "c" and "median" in r}
    lines = [f"{'workload':<22} {'engine':<20} {'median':>10} {'min..max':>21} {'unit':<8} {'x c':>7}"]
    for r in results:
        name = r["workload"] + (f" {r['n']:.0e}".replace("e+0", "e") if "n" in r else "")
        if "median" not in r:
            lines.append(f"{name:<22} {r['engine']:<20} {r['note']}")
            continue
        base = c.get((r["workload"], r.get("n")))
        ratio = f"{r['median'] / base:.2f}" if base else ""
        spread = f"{r['min']:.4g}..{r['max']:.4g}"
        lines.append(f"{name:<22} {r['engine']:<20} {r['median']:>10.4g} {spread:>21} {r['unit']:<8} {ratio:>7}")
    return "\n".join(lines)


def checks(results):
    """(text lines, all passed?) for the numbers the floor computed too."""
    lines, ok = [], True
    for r in results:
        for key, what in (("grads_equal_floor", "gradients"), ("losses_equal_floor", "losses")):
            if r.get(key) is not None:
                ok &= r[key]
                verdict = "equal the floor's, bitwise" if r[key] else "DIFFER from the floor's"
                size = f" ({r['n']:.0e})".replace("e+0", "e") if "n" in r else ""
                lines.append(f"{r['workload']}{size}, {r['engine']}: {what} {verdict}")
    return lines, ok


def plot(results, path):
    """Backward time per node against graph size, one line per engine: flat means linear cost."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    points = [r for r in results if r["workload"] == "scaling" and "median" in r]
    if not points:
        return "no scaling results to plot (run the scaling workload)"
    fig, ax = plt.subplots(figsize=(6, 4))
    for engine in dict.fromkeys(r["engine"] for r in points):
        mine = [r for r in points if r["engine"] == engine]
        ax.plot([r["n"] for r in mine], [r["median"] for r in mine], marker="o", label=engine)
    ax.set(xscale="log", yscale="log", xlabel="graph size (nodes)", ylabel="backward, ns per node",
           title="Backward time per node: flat = linear cost")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return f"plot: {path}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    names = [n for n in (args.only or ",".join(WORKLOADS)).split(",") if n]
    wanted = [n for n in args.engines.split(",") if n]
    unknown = [n for n in names if n not in WORKLOADS] + [e for e in wanted if e not in ENGINES]
    if unknown:
        print(f"error: unknown workload or engine: {', '.join(unknown)}", file=sys.stderr)
        return 2
    cfg = dict(QUICK if args.quick else FULL, mode="quick" if args.quick else "full")
    if args.reps:
        cfg["reps"] = args.reps
    engines, missing = load(wanted)
    try:
        from .floor import load as load_floor
        floor = load_floor()
    except Exception as exc:              # no compiler: the floor is reported missing
        floor, missing["floor"] = None, f"could not compile the hand-written C: {type(exc).__name__}: {exc}"[:200]
    info = machine(argv)
    print(f"{info['command']}  ({cfg['mode']} mode, {cfg['reps']} samples per engine, engines alternating)")
    print(f"Python {info['python']} on {info['platform']}, {info['cpu']}, {info['cores']} cores, "
          f"commit {info['commit'] or 'unknown'}")
    for name, why in missing.items():
        print(f"missing {name}: {why}")
    ctx, t0, results = Context(engines, floor, cfg, args.cpp, args.microgpt_data), time.perf_counter(), []
    for name in names:
        if not args.no_progress:
            print(f"... {name}", file=sys.stderr, flush=True)
        results += WORKLOADS[name](ctx)
    elapsed = time.perf_counter() - t0
    print()
    print(table(results))
    lines, ok = checks(results)
    print("\n" + "\n".join(lines) if lines else "")
    print(f"{elapsed:.0f} s")
    if args.json:
        versions = {e.name: e.version for e in engines}
        with open(args.json, "w") as f:
            json.dump({"machine": info, "config": cfg, "seconds": elapsed, "engines": versions,
                       "missing": missing, "results": results}, f, indent=1)
        print(f"raw samples: {args.json}")
    if args.plot:
        print(plot(results, args.plot))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
