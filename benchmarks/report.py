"""The terminal table, its legend, and the JSON file."""
import json
import os

from .stats import format_number, format_ratio, ratio

LEGEND = {
    "eager_forward": "chain acc = acc*a + b through Python operators; ns per op",
    "eager_thread": "the same with a second Python thread spinning",
    "eager_thread_slowdown": "time with the spinning thread / time alone, same round (1.0 = no slowdown)",
    "backward_chain": "backward of acc = acc*a + b (each graph built once, every backward() timed); ns per node; "
                      "floor: hand-written C on micrograd's graph (binary nodes), its sort and sweep in the note",
    "backward_wide": "backward of one sum of N leaves (pygrad: one fused node; others and the floor: sum()); ns/term",
    "backward_dag": "backward of a seeded random DAG, operands drawn from all earlier nodes (cache-hostile); ns/node",
    "backward_dag_local": "the same, each second operand among the last 64 nodes (real graphs' locality); ns/node",
    "backward_mlp": "backward of a hinge loss through MLP(2,[16,16,1]) over a batch; ns per node of the unfused graph",
    "train_step": "micrograd's demo step (100 moons, MLP(2,[16,16,1]), hinge + L2, SGD) as its users write it; "
                  "a sample is K steps in a row, one gc.collect() before it",
    "train_step_compiled": "the same step with pygrad.compile (examples/moons.py --compiled, accuracy not computed); "
                           "floor: the same arithmetic in hand-written C",
    "forward_batch": "Program.forward_batch of the demo's hinge-loss program; ns per instruction evaluated",
    "forward_batch_row": "the same, ns per row (floor: the MLP and hinge loss in hand-written C)",
    "deep_chain": "deepest chain that differentiates exactly with default settings, each depth in a child process",
    "memory_alive": "bytes per node, chain alive (C: stats() pool/live; python engines: tracemalloc)",
    "memory_dropped": "bytes per node left after `del` (C: live nodes left x node size; others: tracemalloc)",
    "memory_dropped_gc": "the same after gc.collect()",
    "memory_rss": "RSS delta per node with the chain alive (fresh child process)",
    "scaling_forward": "chain build time per node against graph size",
    "scaling_backward": "chain backward time per node against graph size",
}
BASES = ("c", "python", "floor")


def order(rows, engine_order):
    """Rows grouped by workload (in order of first appearance), engines in report order."""
    first = {}
    for r in rows:
        first.setdefault(r["workload"], len(first))
    rank = {name: i for i, name in enumerate(engine_order)}
    return sorted(rows, key=lambda r: (first[r["workload"]], rank.get(r["engine"], len(rank))))


def add_ratios(rows):
    """Each row's median over the c and python medians of the same workload."""
    medians = {(r["workload"], r["engine"]): r["median"] for r in rows}
    for r in rows:
        for base in BASES:
            value = ratio(r["median"], medians.get((r["workload"], base))) if r["ratios"] else None
            r[f"vs_{base}"] = value


def add_eager_ratios(rows):
    """Compiled steps against micrograd's eager step (another workload):
    issue 5's ">= 2,000x faster than micrograd", in each row's note."""
    eager = {r["engine"]: r["median"] for r in rows if r["workload"] == "train_step"}
    base = eager.get("micrograd")
    for r in rows:
        if r["workload"] == "train_step_compiled" and r["median"] and base:
            r["vs_micrograd_eager"] = base / r["median"]
            ratio_note = f"{base / r['median']:,.0f}x faster than micrograd's eager step"
            r["note"] = f"{ratio_note}; {r['note']}" if r["note"] else ratio_note


def _line(cells, widths):
    return "  ".join(c.ljust(w) if i < 2 or i == len(cells) - 1 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(cells, widths))).rstrip()


def table(rows):
    head = ["workload", "engine", "median", "min..max", "unit", "/c", "/python", "/floor", "note"]
    body = []
    for r in rows:
        if r["median"] is None:
            body.append([r["workload"], r["engine"], "-", "", "", "", "", "", r["note"]])
            continue
        spread = f"{format_number(r['min'])}..{format_number(r['max'])}" if r["n"] > 1 else ""
        floor = format_ratio(r["vs_floor"]) if r["vs_floor"] is not None else ""
        body.append([r["workload"], r["engine"], format_number(r["median"]), spread, r["unit"],
                     format_ratio(r["vs_c"]), format_ratio(r["vs_python"]), floor, r["note"]])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    lines = [_line(head, widths), _line(["-" * w for w in widths[:-1]] + ["----"], widths)]
    last = None
    for cells in body:
        group = cells[0].split(" ")[0]
        if last is not None and group != last:
            lines.append("")
        last = group
        lines.append(_line(cells, widths))
    return "\n".join(lines)


def legend(rows):
    seen = []
    for r in rows:
        key = r["workload"].split(" ")[0]
        if key in LEGEND and key not in seen:
            seen.append(key)
    width = max((len(k) for k in seen), default=0)
    return "\n".join(f"  {k.ljust(width)}  {LEGEND[k]}" for k in seen)


def header(machine, cfg):
    pg = machine["pygrad"]
    where = f"pygrad {pg.get('version', '?')} from {pg.get('path', '?')} (C core {pg.get('c_core', '?')})"
    return "\n".join([
        f"pygrad benchmarks, {cfg['mode']} mode: {machine['command']}",
        f"{machine['date']}  {machine['platform']}  {machine['python']}",
        f"{machine['cpu']}, {machine['cpu_count']} CPUs ({machine['cpus_usable']} usable), "
        f"{machine['memory_gib']} GiB; git {machine['git_commit']}; "
        f"load average {machine['loadavg_start']} at start, {machine.get('loadavg_end')} at end",
        where,
        "/c, /python, /floor: this row's median over that engine's, or over hand-written C's "
        "(lower is better; 35x = 35 times the time)",
    ])


def write_json(path, machine, cfg, engines, rows, elapsed):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    doc = {"machine": machine, "config": cfg, "engines": engines, "elapsed_s": elapsed, "results": rows}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
