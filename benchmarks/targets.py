"""Issue 3's and issue 5's targets, checked against this run's medians.
Informative only: a missed target is a finding, not a failure of the run
(exit status 0)."""

SHAPES = ("chain", "wide", "dag", "dag_local", "mlp")


def _median(rows, workload, engine):
    for r in rows:
        if r["workload"] == workload and r["engine"] == engine and r["median"] is not None:
            return r["median"]
    return None


def _over(a, b):
    return a / b if a is not None and b else None


def _ratio(rows, workload, engine):
    """How many times faster the C engine is than `engine` on `workload`."""
    return _over(_median(rows, workload, engine), _median(rows, workload, "c"))


def _vs_floor(rows, workload):
    """The C engine's time over hand-written C's (1.0 = as fast as the floor)."""
    return _over(_median(rows, workload, "c"), _median(rows, workload, "floor"))


def _compiled_vs_micrograd(rows):
    """micrograd's eager demo step over pygrad's compiled one."""
    return _over(_median(rows, "train_step", "micrograd"), _median(rows, "train_step_compiled", "c"))


def _c(workload):
    return lambda rows: _median(rows, workload, "c")


# (what, how to measure it from the rows, unit, test), by issue
ISSUE_3 = [
    (f"backward {shape} <= 15 ns/node", _c(f"backward_{shape}"), "ns", lambda x: x <= 15) for shape in SHAPES
] + [
    (f"backward {shape} within 2x of hand-written C", (lambda rows, s=shape: _vs_floor(rows, f"backward_{s}")),
     "x", lambda x: x <= 2) for shape in SHAPES
] + [
    ("eager forward <= 200 ns/op", _c("eager_forward"), "ns", lambda x: x <= 200),
    ("eager forward >= 25x faster than micrograd", lambda rows: _ratio(rows, "eager_forward", "micrograd"),
     "x", lambda x: x >= 25),
    ("eager with a busy thread <= 2x alone", _c("eager_thread_slowdown"), "x", lambda x: x <= 2),
    ("train step >= 200x faster than micrograd", lambda rows: _ratio(rows, "train_step", "micrograd"),
     "x", lambda x: x >= 200),
    ("memory <= 48 B/node (C pool per live node)", _c("memory_alive"), "B", lambda x: x <= 48),
    ("nothing left after a graph is dropped", _c("memory_dropped"), "B/node", lambda x: x == 0),
    ("a 1e7-node chain differentiates", _c("deep_chain"), "nodes", lambda x: x >= 10_000_000),
]

ISSUE_5 = [
    ("compiled step >= 2,000x faster than micrograd", _compiled_vs_micrograd, "x", lambda x: x >= 2000),
    ("compiled step within 3x of hand-written C", lambda rows: _vs_floor(rows, "train_step_compiled"),
     "x", lambda x: x <= 3),
    ("forward_batch <= 5 ns per instruction", _c("forward_batch"), "ns", lambda x: x <= 5),
]

TARGETS = ISSUE_3 + ISSUE_5
GROUPS = (("issue 3 targets (C engine):", ISSUE_3), ("issue 5 targets (C engine, compiled mode):", ISSUE_5))


def check(rows, targets=TARGETS):
    """[(what, measured text, 'met' | 'MISSED' | 'not measured')]."""
    out = []
    for what, measure, unit, ok in targets:
        value = measure(rows)
        if value is None:
            out.append((what, "-", "not measured"))
        else:
            out.append((what, f"{value:,.4g} {unit}", "met" if ok(value) else "MISSED"))
    return out


def text(rows, mode):
    lines = []
    for title, targets in GROUPS:
        lines.append(title)
        lines += [f"  {w:<48} {m:>16}  {s}" for w, m, s in check(rows, targets)]
    if mode != "full":
        lines.append("  (quick mode uses small graphs and batches: the targets are defined on full-mode sizes)")
    return "\n".join(lines)
