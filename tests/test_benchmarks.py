"""The benchmark suite runs, reports every workload, and its helpers are right.

No test here asserts a time: the numbers vary by machine. What is checked
is that `python -m benchmarks --quick` completes with numbers for the C and
the reference engine on every workload, that the two engines (and the
hand-written C floors) computed the same things while being timed, that
the floors compile and give pygrad's numbers, and that the statistics, the
alternation, the sampling and the node counts behave as documented.
"""
import json
import math
import os
import subprocess
import sys

import pytest

import pygrad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.append(ROOT)      # after site-packages: the installed pygrad stays first

from benchmarks import engines, graphs, stats  # noqa: E402
from benchmarks.timing import alternate  # noqa: E402

# Every row workload a full --quick run reports (scaling rows carry their size).
BACKWARD = ["backward_chain", "backward_wide", "backward_dag", "backward_dag_local", "backward_mlp"]
EXPECTED = [
    "eager_forward", "eager_thread", "eager_thread_slowdown", *BACKWARD,
    "train_step", "train_step_compiled", "forward_batch", "forward_batch_row", "deep_chain",
    "memory_alive", "memory_dropped", "memory_dropped_gc", "memory_rss",
    "scaling_forward 1e3", "scaling_backward 1e3", "scaling_forward 1e4", "scaling_backward 1e4",
]


def run_benchmarks(args, tmp_path, entry=("-m", "benchmarks")):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, *entry, *args, "--json", str(out), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out) as f:
        return json.load(f), proc.stdout


def by_key(doc):
    return {(r["workload"], r["engine"]): r for r in doc["results"]}


# ---------------------------------------------------------------------------
# the whole quick run


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return run_benchmarks(["--quick"], tmp_path_factory.mktemp("quick"))


@pytest.mark.slow
def test_quick_run_has_numbers_for_c_and_python_on_every_workload(quick):
    doc, _ = quick
    rows = by_key(doc)
    for workload in EXPECTED:
        for engine in ("c", "python"):
            r = rows.get((workload, engine))
            assert r is not None, f"no row for {workload} on {engine}"
            assert r["samples"], f"{workload} on {engine}: {r['note']}"
            assert all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0 for x in r["samples"])
            assert r["min"] <= r["median"] <= r["max"]


@pytest.mark.slow
def test_quick_run_keeps_raw_samples_and_machine_info(quick):
    doc, stdout = quick
    assert doc["config"]["mode"] == "quick"
    for key in ("platform", "python", "cpu_count", "date"):
        assert doc["machine"][key]
    rows = by_key(doc)
    assert len(rows[("eager_forward", "c")]["samples"]) == doc["config"]["reps"] == 3
    assert rows[("eager_forward", "c")]["vs_c"] == 1.0
    assert rows[("eager_forward", "python")]["vs_python"] == 1.0
    assert "eager_forward" in stdout and "issue 3 targets" in stdout


@pytest.mark.slow
def test_quick_run_engines_computed_the_same_values(quick):
    # The timed graphs and training steps are the same arithmetic on both
    # engines, so their results must agree bitwise.
    rows = by_key(quick[0])
    for workload in BACKWARD:
        c, py = rows[(workload, "c")]["extra"], rows[(workload, "python")]["extra"]
        assert repr(c["root_data"]) == repr(py["root_data"]), workload
    c_losses = rows[("train_step", "c")]["extra"]["losses"]
    assert c_losses == rows[("train_step", "python")]["extra"]["losses"]
    assert len(c_losses) == 4 * 2      # warm-up sample + 3 timed samples, 2 steps each
    assert rows[("train_step", "c")]["extra"]["steps_per_sample"] == 2


@pytest.mark.slow
def test_quick_run_has_the_floor_beside_the_engines(quick):
    # The floors ran on the same graphs and data as the engines, and got
    # the same numbers: the same root values, the same losses bitwise.
    rows = by_key(quick[0])
    for workload in BACKWARD + ["train_step_compiled", "forward_batch_row"]:
        r = rows[(workload, "floor")]
        assert r["samples"], f"{workload}: {r['note']}"
        assert rows[(workload, "c")]["vs_floor"] == rows[(workload, "c")]["median"] / r["median"]
    for workload in BACKWARD:
        floor, c = rows[(workload, "floor")]["extra"], rows[(workload, "c")]["extra"]
        assert repr(floor["root_data"]) == repr(c["root_data"]), workload
        assert floor["nodes"] == c["nodes"]
        assert floor["sort_ns"] > 0 and floor["sweep_ns"] > 0
    losses = {e: rows[("train_step_compiled", e)]["extra"]["losses"] for e in ("c", "python", "floor")}
    assert len(losses["c"]) == 4 * 5   # warm-up sample + 3 timed samples, 5 steps each
    assert losses["floor"] == losses["c"] == losses["python"]
    assert rows[("train_step_compiled", "floor")]["extra"]["max_rel_diff"] == 0.0
    assert rows[("forward_batch_row", "floor")]["extra"]["same_as_c"] is True
    assert rows[("forward_batch_row", "python")]["extra"]["same_as_c"] is True
    fb = rows[("forward_batch", "c")]
    assert fb["extra"]["instructions"] > 0 and fb["size"] == fb["extra"]["rows"] * fb["extra"]["instructions"]
    assert ("forward_batch", "floor") not in rows      # no instructions to count


@pytest.mark.slow
def test_quick_run_reports_issue_5_targets(quick):
    doc, stdout = quick
    assert "issue 5 targets" in stdout
    assert "compiled step within 3x of hand-written C" in stdout
    rows = by_key(doc)
    if ("train_step", "micrograd") in rows:          # micrograd is installed
        c = rows[("train_step_compiled", "c")]
        assert c["vs_micrograd_eager"] == rows[("train_step", "micrograd")]["median"] / c["median"]
        assert "faster than micrograd's eager step" in c["note"]


@pytest.mark.slow
def test_quick_run_deep_chain_and_memory_findings(quick):
    rows = by_key(quick[0])
    # Both engines differentiate the deepest quick chain (1e5) exactly.
    assert rows[("deep_chain", "c")]["median"] == 100_000
    assert rows[("deep_chain", "python")]["median"] == 100_000
    # A dropped graph leaves no live node in the C core.
    assert rows[("memory_dropped_gc", "c")]["median"] == 0
    assert rows[("backward_chain", "c")]["extra"]["c_nodes_by_stats"] == rows[("backward_chain", "c")]["size"]


# ---------------------------------------------------------------------------
# the other entry point, --only and --engines (fast)


def test_run_py_entry_point_with_only_and_engines(tmp_path):
    doc, stdout = run_benchmarks(["--quick", "--only", "eager_forward,backward_chain", "--engines", "c,python"],
                                 tmp_path, entry=("benchmarks/run.py",))
    assert {r["workload"] for r in doc["results"]} == {"eager_forward", "backward_chain"}
    assert {r["engine"] for r in doc["results"]} == {"c", "python"}
    assert set(doc["engines"]) == {"c", "python"}


def test_only_takes_exact_names_or_prefixes():
    from benchmarks.workloads import select
    assert select(["eager"]) == ["eager_forward", "eager_thread"]
    assert select(["backward_dag", "memory"]) == ["backward_dag", "memory"]     # exact: not dag_local
    assert select(["backward_dag_"]) == ["backward_dag_local"]
    assert select(["train"]) == ["train_step", "train_step_compiled"]
    assert len(select([])) == 13


def test_unknown_workload_is_an_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nonsense"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown workload" in proc.stderr


def test_missing_engine_becomes_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "micrograd", None)    # import micrograd now fails
    loaded, missing = engines.load(engines.expand(["python", "micrograd"]))
    assert [e.name for e in loaded] == ["python"]
    assert set(missing) == {"micrograd", "micrograd-gc-off"}
    assert "micrograd" in missing["micrograd"]


def test_expand_adds_the_gc_off_twin_and_rejects_unknown_names():
    assert engines.expand(["micrograd", "c"]) == ["c", "micrograd", "micrograd-gc-off"]
    assert engines.expand(["python", "floor", "c"]) == ["c", "floor", "python"]
    with pytest.raises(ValueError, match="unknown engine"):
        engines.expand(["jax"])


# ---------------------------------------------------------------------------
# statistics


@pytest.mark.parametrize("samples, expected", [
    ([5.0], 5.0),
    ([3.0, 1.0, 2.0], 2.0),
    ([4.0, 1.0, 3.0, 2.0], 2.5),
    ([1.0, 1.0, 100.0], 1.0),
    ([-1.0, 7.0], 3.0),
])
def test_median(samples, expected):
    assert stats.median(samples) == expected


def test_median_of_nothing_raises():
    with pytest.raises(ValueError):
        stats.median([])


def test_summarize():
    assert stats.summarize([3.0, 9.0, 1.0, 4.0]) == {"median": 3.5, "min": 1.0, "max": 9.0, "n": 4}


def test_ratio():
    assert stats.ratio(35.0, 1.0) == 35.0
    assert stats.ratio(1.0, 4.0) == 0.25
    assert stats.ratio(1.0, 0) is None
    assert stats.ratio(None, 2.0) is None
    assert stats.ratio(2.0, None) is None


@pytest.mark.parametrize("r, text", [(None, "-"), (350.4, "350x"), (1234.0, "1,234x"), (35.04, "35.0x"),
                                     (1.0, "1.00x"), (0.0123, "0.012x")])
def test_format_ratio(r, text):
    assert stats.format_ratio(r) == text


# ---------------------------------------------------------------------------
# alternation


class _Eng:
    gc_off = False


def test_alternate_goes_round_by_round_and_drops_failing_engines():
    calls = []

    def sampler(name, fail_at=None):
        def sample():
            calls.append(name)
            if len([c for c in calls if c == name]) == fail_at:
                raise RecursionError("too deep")
            return float(len(calls))
        return sample

    runs = {"a": (_Eng(), sampler("a")), "b": (_Eng(), sampler("b", fail_at=3)), "c": (_Eng(), sampler("c"))}
    samples, notes = alternate(runs, reps=3, warmup=1)
    # warm-up round (not kept), then a b c, a b(fails) c, a c
    assert calls == ["a", "b", "c"] * 3 + ["a", "c"]
    assert samples == {"a": [4.0, 7.0, 10.0], "c": [6.0, 9.0, 11.0]}
    assert notes == {"b": "failed: RecursionError: too deep"}


# ---------------------------------------------------------------------------
# node counts by construction


def _reachable(root):
    seen, stack = set(), [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen.add(id(v))
            stack.extend(v._children)
    return len(seen)


@pytest.fixture
def ref():
    return engines.load(["python"])[0][0]


def test_chain_count_is_the_graph(ref):
    g = graphs.chain(ref, 1001)
    assert g.nodes == _reachable(g.root) == 1001


def test_dag_count_is_the_graph_without_its_root_sum(ref):
    g = graphs.random_dag(ref, 5000)
    assert g.nodes == _reachable(g.root) - 1      # the fused sum over unused nodes
    assert abs(g.nodes - 5000) < 100


def test_mlp_count_is_micrograds_unfused_graph(ref):
    # tinynn is micrograd's nn over any Value: unfused, like micrograd's graph.
    from benchmarks.tinynn import make_mlp
    unfused = engines.Engine("unfused", ref.Value, make_mlp(ref.Value), sum)
    g = graphs.mlp_batch(unfused, 3000)
    assert g.nodes == _reachable(g.root)


def test_local_dag_draws_its_second_operand_from_the_last_64_nodes():
    leaves, ops, _, _ = graphs.dag_plan(3000, 1, graphs.LOCAL_WINDOW)
    width = len(leaves)
    assert all(width + k - 64 <= j < width + k for k, (_, _, j) in enumerate(ops))
    # the uniform DAG reaches much further back
    _, uniform, _, _ = graphs.dag_plan(3000, 1)
    assert max(width + k - j for k, (_, _, j) in enumerate(uniform)) > 1000


def test_local_dag_count_is_the_graph_without_its_root_sum(ref):
    g = graphs.random_dag_local(ref, 5000)
    assert g.nodes == _reachable(g.root) - 1
    assert abs(g.nodes - 5000) < 100


# ---------------------------------------------------------------------------
# the floors: hand-written C, compiled here, giving pygrad's numbers


@pytest.fixture(scope="module")
def floor_module():
    from benchmarks import floor
    return floor.load()          # compiles into a temporary folder


def _unfused(ref):
    """The reference engine with micrograd's graph shape: one node per op,
    Python's sum(), micrograd's MLP (benchmarks/tinynn.py)."""
    from benchmarks.tinynn import make_mlp
    return engines.Engine("unfused", ref.Value, make_mlp(ref.Value), sum)


def _floor_backward(floor_module, build, size):
    from benchmarks.floor import recorder
    from benchmarks.floor.handles import Graph
    tape = recorder.Tape()
    g = build(recorder.engine(tape), size)
    fg = Graph(floor_module, tape)
    sort_s, sweep_s = fg.backward(g.root.i)
    assert sort_s >= 0 and sweep_s >= 0
    return g, fg.grads([leaf.i for leaf in g.leaves])


BUILDERS = [graphs.chain, graphs.wide, graphs.random_dag, graphs.random_dag_local, graphs.mlp_batch]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_floor_backward_gives_the_unfused_graphs_gradients_bitwise(floor_module, ref, build):
    # The same graph, op for op, differentiated in the same order: the same bits.
    g, floor_grads = _floor_backward(floor_module, build, 3000)
    r = build(_unfused(ref), 3000)
    r.root.backward()
    assert repr(g.root.data) == repr(r.root.data)
    assert [repr(x) for x in floor_grads] == [repr(leaf.grad) for leaf in r.leaves]
    assert g.nodes == r.nodes


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_floor_backward_gives_pygrads_gradients(floor_module, build):
    # Against the C engine's own graphs, where sums and neurons are fused
    # nodes: the same gradients, up to the order of summation.
    c = engines.load(["c"])[0][0]
    g, floor_grads = _floor_backward(floor_module, build, 3000)
    r = build(c, 3000)
    r.root.backward()
    assert repr(g.root.data) == repr(r.root.data)
    assert floor_grads == pytest.approx([leaf.grad for leaf in r.leaves], rel=1e-12, abs=1e-300)
    if build in (graphs.chain, graphs.random_dag, graphs.random_dag_local):
        assert floor_grads == [leaf.grad for leaf in r.leaves]     # nothing fused: bitwise


def test_recorder_builds_micrographs_graph(ref):
    # Every recorded node is the graph's (nothing dead), in the unfused shape.
    from benchmarks.floor import recorder
    tape = recorder.Tape()
    g = graphs.mlp_batch(recorder.engine(tape), 2000)
    assert len(tape) == g.nodes == _reachable(graphs.mlp_batch(_unfused(ref), 2000).root)
    assert all(a < i and b < i for i, (a, b) in enumerate(zip(tape.a, tape.b)))   # children first


def test_floor_init_is_micrograds(engine):
    import random

    from benchmarks.floor.handles import init_params
    from pygrad.nn import MLP
    params = init_params([2, 16, 16, 1], seed=1337)
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    assert params == [p.data for p in model.parameters()]


def test_floor_train_step_gives_pygrads_compiled_losses_bitwise(floor_module, engine):
    # The floor is a fair floor: the same arithmetic as the compiled step,
    # so after 12 steps the losses and the weights agree to the last bit.
    from benchmarks.workloads.compiled import SIZES, CompiledDemo, FloorDemo
    X, y = graphs.make_moons(100)
    eng = engines.load([pygrad.get_engine()])[0][0]
    floor = engines.Engine("floor", None, None, None, floor=floor_module)
    demo, hand = CompiledDemo(eng, X, y), FloorDemo(floor, X, y)
    steps = 12
    assert [hand.step(k) for k in range(steps)] == [demo.step(k) for k in range(steps)]
    assert list(hand.trainer.params) == [p.data for p in demo.opt.params]
    assert len(hand.trainer.params) == sum((a + 1) * b for a, b in zip(SIZES, SIZES[1:]))


def test_floor_trainer_refuses_a_network_its_scratch_cannot_hold(floor_module):
    from benchmarks.floor.handles import Trainer
    X, y = graphs.make_moons(4)
    with pytest.raises(ValueError, match="64 units"):
        Trainer(floor_module, [2, 100, 1], [0.0] * 401, X, y)
    with pytest.raises(ValueError, match="one output"):
        Trainer(floor_module, [2, 4, 2], [0.0] * 22, X, y)


def test_floor_train_step_learns(floor_module):
    from benchmarks.workloads.compiled import FloorDemo
    X, y = graphs.make_moons(100)
    hand = FloorDemo(engines.Engine("floor", None, None, None, floor=floor_module), X, y)
    losses = [hand.step(k) for k in range(100)]
    assert losses[-1] < 0.1 * losses[0]


def test_floor_forward_batch_gives_the_programs_outputs_bitwise(floor_module):
    import numpy as np

    from benchmarks.workloads.compiled import CompiledDemo, FloorDemo, make_batch
    X, y = graphs.make_moons(4)
    c = CompiledDemo(engines.load(["c"])[0][0], X, y).hinge
    hand = FloorDemo(engines.Engine("floor", None, None, None, floor=floor_module), X, y).hinge
    batch = make_batch(500)
    out = hand.forward_batch(np.ascontiguousarray(batch[:, :2]), np.ascontiguousarray(batch[:, 2]),
                             np.empty(500))
    assert out.tolist() == c.forward_batch(batch).tolist()
    assert (out > 0).any() and (out == 0).any()        # both sides of the hinge


def test_floor_engine_is_compiled_once_and_reused(floor_module):
    loaded, missing = engines.load(["floor"], floor_path=floor_module.path)
    assert not missing and loaded[0].floor.path == floor_module.path
    assert engines.floor_module_path(loaded) == floor_module.path


def test_floor_without_a_compiler_becomes_a_note(monkeypatch):
    from benchmarks.floor import build

    def no_compiler(tmpdir):
        raise OSError("no C compiler")
    monkeypatch.setattr(build, "compile_floor", no_compiler)
    monkeypatch.setattr("benchmarks.floor.compile_floor", no_compiler)
    loaded, missing = engines.load(["c", "floor"])
    assert [e.name for e in loaded] == ["c"]
    assert "no C compiler" in missing["floor"]


# ---------------------------------------------------------------------------
# train step sampling: K steps per sample, one collection before each sample


def test_a_train_sample_is_k_steps_with_one_collection(monkeypatch, ref):
    import gc

    from benchmarks import timing
    from benchmarks.workloads import train
    collections = []
    monkeypatch.setattr(timing.gc, "collect", lambda *a: collections.append(1))
    X, y = graphs.make_moons(10)
    losses = []
    samples, notes = alternate({"python": (ref, train._trainer(ref, X, y, losses, steps=3))}, reps=2, warmup=1)
    assert not notes and len(samples["python"]) == 2
    assert len(losses) == 3 * 3            # 3 samples (one warm-up) of 3 steps
    assert len(collections) == 3           # one per sample, none between steps
    assert gc.isenabled()


# ---------------------------------------------------------------------------
# ratios across workloads, and the targets


def _row(workload, engine, median):
    from benchmarks.results import row
    return row(workload, engine, "ms/step", [median])


def test_compiled_step_is_compared_with_micrographs_eager_step():
    from benchmarks import report
    rows = [_row("train_step", "micrograd", 500.0), _row("train_step", "c", 2.0),
            _row("train_step_compiled", "c", 0.2), _row("train_step_compiled", "floor", 0.05)]
    report.add_eager_ratios(rows)
    assert rows[2]["vs_micrograd_eager"] == 2500.0
    assert rows[2]["note"].startswith("2,500x faster than micrograd's eager step")
    assert "vs_micrograd_eager" not in rows[1]


def test_targets_of_issue_5():
    from benchmarks import targets
    rows = [_row("train_step", "micrograd", 500.0), _row("train_step_compiled", "c", 0.2),
            _row("train_step_compiled", "floor", 0.05), _row("forward_batch", "c", 4.0)]
    checked = {what: (value, verdict) for what, value, verdict in targets.check(rows, targets.ISSUE_5)}
    assert checked["compiled step >= 2,000x faster than micrograd"] == ("2,500 x", "met")
    assert checked["compiled step within 3x of hand-written C"] == ("4 x", "MISSED")
    assert checked["forward_batch <= 5 ns per instruction"] == ("4 ns", "met")
    within = dict((w, s) for w, _, s in targets.check([_row("backward_dag", "c", 30.0)], targets.ISSUE_3))
    assert within["backward dag within 2x of hand-written C"] == "not measured"
