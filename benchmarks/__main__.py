"""python -m benchmarks: time pygrad's two engines beside micrograd (when
installed), any micrograd-style Value class (--engine) and hand-written C
floors; every sample in process CPU time and wall time. Print a table of CPU
medians (wall beside them, a warning where the two disagree or samples
spread), check that the engines computed the floor's numbers (exit 1 if
not), optionally write every raw sample (--json), the table as markdown
(--markdown) and CSV (--csv), and the scaling plot (--plot). Usage: README.md.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from . import ROOT, external, report
from .harness import ENGINES, load
from .progress import Progress
from .workloads import FULL, QUICK, WORKLOADS, Context


def positive(text):
    """argparse type: an int >= 1 (0 samples would leave nothing to take a median of)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"wants a whole number >= 1, got {text!r}")
    return n


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repetitions")
    p.add_argument("--only", help=f"comma-separated workloads: {', '.join(WORKLOADS)}")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines (default: all installed)")
    p.add_argument("--reps", type=positive, help="samples per engine (default: 3 quick, 5 full)")
    p.add_argument("--engine", metavar="MODULE:CLASS", help="also time this micrograd-style Value class "
                   "(a module or a path/to/file.py) on the graph workloads, once its gradients match pygrad's")
    p.add_argument("--json", metavar="PATH", help="write the raw samples and the machine's description")
    p.add_argument("--markdown", metavar="PATH", help="write the table as markdown")
    p.add_argument("--csv", metavar="PATH", help="write the table as CSV")
    p.add_argument("--plot", metavar="PATH", help="PNG of backward time per node against graph size (matplotlib)")
    p.add_argument("--cpp", metavar="PATH", help="a C++ microgpt executable to time beside the engines")
    p.add_argument("--microgpt-data", metavar="FILE", help="microgpt's documents, one per line, or `names` for "
                   "the names package's first names (default: made-up three-letter names)")
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
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
        med = [r["median"] for r in mine]          # whiskers: the fastest and slowest sample
        whiskers = [[m - r.get("min", m) for m, r in zip(med, mine)], [r.get("max", m) - m for m, r in zip(med, mine)]]
        ax.errorbar([r["n"] for r in mine], med, yerr=whiskers, marker="o", capsize=3, label=engine)
    ax.set(xscale="log", yscale="log", xlabel="graph size (nodes)", ylabel="CPU ns per node: median, min..max",
           title="Backward time per node: flat = linear cost")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return f"plot: {path}"


def engines_for(args, wanted):
    """(engines, {name: why missing}); raises external.Refused for a bad --engine."""
    engines, missing = load(wanted)
    if args.engine:
        engines.append(external.load(args.engine))
    return engines, missing


def floor_or_why():
    """(the compiled floor module, None) or (None, why not: no compiler, say)."""
    try:
        from .floor import load as load_floor
        return load_floor(), None
    except Exception as exc:
        return None, f"could not compile the hand-written C: {type(exc).__name__}: {exc}"[:200]


def run(ctx, names, progress):
    results = []
    for name in names:
        progress.start(name)
        results += WORKLOADS[name](ctx)
        progress.finish()
    progress.close()
    return results


def write(args, info, cfg, seconds, engines, missing, results):
    """The files asked for; a line naming each."""
    if args.json:
        versions = {e.name: e.version for e in engines}
        with open(args.json, "w") as f:
            json.dump({"machine": info, "config": cfg, "seconds": seconds, "engines": versions,
                       "missing": missing, "results": results}, f, indent=1)
        print(f"raw samples: {args.json}")
    title = f"{info['command']} ({cfg['mode']}, {cfg['reps']} samples), commit {info['commit'] or 'unknown'}"
    for path, text, what in ((args.markdown, lambda: report.markdown(results, title), "markdown"),
                             (args.csv, lambda: report.csv_text(results), "CSV")):
        if path:
            with open(path, "w", newline="") as f:
                f.write(text())
            print(f"{what}: {path}")
    if args.plot:
        print(plot(results, args.plot))


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
    try:
        engines, missing = engines_for(args, wanted)
    except external.Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    floor, why = floor_or_why()
    if why:
        missing["floor"] = why
    info = machine(argv)
    print(f"{info['command']}  ({cfg['mode']} mode, {cfg['reps']} samples per engine, engines alternating; "
          f"times are process CPU, wall beside them)")
    load_avg = f", load average {info['loadavg'][0]:.1f}" if info["loadavg"] else ""
    print(f"Python {info['python']} on {info['platform']}, {info['cpu']}, {info['cores']} cores{load_avg}, "
          f"commit {info['commit'] or 'unknown'}")
    for name, why in missing.items():
        print(f"missing {name}: {why}")
    progress = Progress(names, enabled=not args.no_progress)
    ctx = Context(engines, floor, cfg, args.cpp, args.microgpt_data, tick=progress.tick)
    t0 = (time.process_time(), time.perf_counter())
    results = run(ctx, names, progress)
    seconds = {"cpu": time.process_time() - t0[0], "wall": time.perf_counter() - t0[1]}
    print()
    print(report.table(results))
    lines, ok = checks(results)
    print("\n" + "\n".join(lines) if lines else "")
    print(f"{seconds['cpu']:.1f} s of CPU, {seconds['wall']:.1f} s of wall")
    write(args, info, cfg, seconds, engines, missing, results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
