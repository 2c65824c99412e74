"""The benchmark harness (benchmarks/): its floor is compiled with the C
core's own flags and computes pygrad's numbers bit for bit, and a run
writes the JSON it promises."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

import pygrad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.append(ROOT)      # after site-packages: an installed pygrad stays first
from benchmarks import floor, workloads  # noqa: E402
from benchmarks.harness import alternate, load  # noqa: E402


@pytest.fixture(scope="module")
def floor_module():
    return floor.load()


@pytest.mark.skipif(sys.platform == "win32", reason="MSVC takes other flags")
@pytest.mark.parametrize("sanitize", ["0", "1"])
def test_floor_flags_are_the_build_scripts(monkeypatch, sanitize):
    monkeypatch.setenv("PYGRAD_SANITIZE", sanitize)     # the sanitizer's flags are the core's alone
    flags, libraries = floor.build_settings()
    # pygrad/_build.py's:
    assert flags == ["-O3", "-std=c11", "-ffp-contract=off", "-fvisibility=hidden", "-Wall", "-Wextra"]
    assert libraries == ["m"]


@pytest.mark.parametrize("build", [workloads.chain, workloads.random_dag])
def test_floor_backward_gives_pygrads_gradients_bitwise(floor_module, engine, build):
    root, leaves, nodes, _ = build(engine, 3000)
    tape = floor.Tape()
    t_root, t_leaves, t_nodes, _ = build(tape.leaf, 3000)
    assert nodes == t_nodes == len(tape.op)        # the node count every engine's time is divided by
    graph = floor.Graph(floor_module, tape)
    for _ in range(2):                             # grads accumulate alike, too
        root.backward()
        graph.backward(t_root)
        assert [repr(x.grad) for x in leaves] == [repr(graph.grad(x)) for x in t_leaves]
    assert repr(root.data) == repr(t_root.data)
    assert any(x.grad != 0.0 for x in leaves)


@pytest.mark.parametrize("lanes", [False, True], ids=["exact-order", "8-row-lanes"])
def test_floor_train_step_gives_pygrads_compiled_losses_bitwise(floor_module, engine, lanes):
    X, y = workloads.make_moons(42)          # 5 blocks of 8 rows and a partial one
    eng = load([pygrad.get_engine()])[0][0]
    step = workloads.compiled_demo(eng, X, y)
    in_c = floor.trainer(floor_module, workloads.SIZES, X, y, workloads.ALPHA, lanes=lanes)
    lrs = [1.0 - 0.9 * k / 100 for k in range(6)]
    ours, floors = [step(lr) for lr in lrs], [in_c(lr) for lr in lrs]
    assert list(map(repr, ours)) == list(map(repr, floors))
    assert floors[-1] < floors[0]                  # it trains


def test_floor_init_is_micrograds(engine):
    import random
    random.seed(1337)
    model = load([pygrad.get_engine()])[0][0].MLP(2, [16, 16, 1])
    assert floor.init_params(workloads.SIZES) == [p.data for p in model.parameters()]


@pytest.mark.slow
def test_microgpt_pure_python_value_gives_pygrads_losses():
    ctx = workloads.Context(load(["c"])[0], None, dict(workloads.QUICK, reps=1))
    results = {r["engine"]: r for r in workloads.microgpt(ctx)}
    assert set(results) == {"c", "c compiled", "pure Python", "pure Python, GC off"}
    c = results["c"]["losses"]
    assert len(c) == 2 and c[0] > 0                # one warm-up step, one timed
    for name in ("c compiled", "pure Python", "pure Python, GC off"):
        assert results[name]["losses"] == pytest.approx(c, rel=1e-9)


@pytest.mark.slow
def test_microgpt_trains_on_the_documents_given(tmp_path):
    """--microgpt-data FILE: the documents come from the file (here one
    long name, so its losses differ from the made-up names' ones)."""
    data = tmp_path / "docs.txt"
    data.write_text("abcdefghij\n\njihgfedcba\n")
    ctx = workloads.Context(load(["c"])[0], None, dict(workloads.QUICK, reps=1), microgpt_data=str(data))
    made_up = workloads.Context(load(["c"])[0], None, dict(workloads.QUICK, reps=1))
    ours = {r["engine"]: r["losses"] for r in workloads.microgpt(ctx) if "losses" in r}
    theirs = {r["engine"]: r["losses"] for r in workloads.microgpt(made_up) if "losses" in r}
    assert ours["c"] == pytest.approx(ours["pure Python"], rel=1e-9)
    assert ours["c"] != pytest.approx(theirs["c"], rel=1e-3)


def test_alternate_goes_round_by_round_and_drops_a_failing_engine():
    calls = []

    def ok(name):
        return lambda: calls.append(name) or 1.0

    def broken():
        raise RecursionError("too deep")
    samples, notes = alternate({"a": ok("a"), "b": broken, "c": ok("c")}, reps=2, warmup=1)
    assert calls == ["a", "c"] * 3 and samples == {"a": [1.0, 1.0], "c": [1.0, 1.0]}
    assert notes == {"b": "RecursionError: too deep"}


def run(*args):
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_quick_run_writes_its_samples_as_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = run("--quick", "--only", "backward_chain,memory", "--engines", "c,python", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "backward_chain, c: gradients equal the floor's, bitwise" in proc.stdout
    data = json.loads(out.read_text())
    assert set(data) == {"machine", "config", "seconds", "engines", "missing", "results"}
    assert data["config"]["mode"] == "quick" and data["machine"]["python"]
    got = {(r["workload"], r["engine"]): r for r in data["results"]}
    measured = ("c", "python") if importlib.util.find_spec("_tracemalloc") else ("c",)   # PyPy: no tracemalloc
    assert set(got) == {("backward_chain", e) for e in ("c", "python", "floor")} | \
        {("memory", e) for e in measured}
    chain = got[("backward_chain", "c")]
    assert len(chain["samples"]) == 3 and chain["unit"] == "ns/node" and chain["grads_equal_floor"] is True
    assert chain["min"] <= chain["median"] <= chain["max"]
    assert 32 <= got[("memory", "c")]["median"] < 40         # a node is 32 bytes; its handle is dropped


def test_unknown_workload_is_a_usage_error():
    proc = run("--only", "nonesuch")
    assert proc.returncode == 2 and "unknown workload or engine: nonesuch" in proc.stderr


@pytest.mark.slow
def test_plot_draws_time_per_node_against_size(tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks.__main__ import plot
    rows = [{"workload": "scaling", "engine": e, "n": n, "median": m}
            for e, m in (("c", 15.0), ("floor", 10.0)) for n in (1000, 10000)]
    assert plot(rows, str(tmp_path / "s.png")) == f"plot: {tmp_path / 's.png'}"
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
