"""The benchmark suite runs, reports every workload, and its helpers are right.

No test here asserts a time: the numbers vary by machine. What is checked
is that `python -m benchmarks --quick` completes with numbers for the C and
the reference engine on every workload, that the two engines computed the
same things while being timed, and that the statistics, the alternation
and the node counts behave as documented.
"""
import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.append(ROOT)      # after site-packages: the installed pygrad stays first

from benchmarks import engines, graphs, stats  # noqa: E402
from benchmarks.timing import alternate  # noqa: E402

# Every row workload a full --quick run reports (scaling rows carry their size).
EXPECTED = [
    "eager_forward", "eager_thread", "eager_thread_slowdown",
    "backward_chain", "backward_wide", "backward_dag", "backward_mlp",
    "train_step", "deep_chain",
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
    for workload in ("backward_chain", "backward_wide", "backward_dag", "backward_mlp"):
        c, py = rows[(workload, "c")]["extra"], rows[(workload, "python")]["extra"]
        assert repr(c["root_data"]) == repr(py["root_data"]), workload
    c_losses = rows[("train_step", "c")]["extra"]["losses"]
    assert c_losses == rows[("train_step", "python")]["extra"]["losses"]
    assert len(c_losses) == 4          # warm-up step + 3 timed steps


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


def test_only_takes_prefixes():
    from benchmarks.workloads import select
    assert select(["eager"]) == ["eager_forward", "eager_thread"]
    assert select(["backward_dag", "memory"]) == ["backward_dag", "memory"]
    assert len(select([])) == 10


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
            stack.extend(v._kids())
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
