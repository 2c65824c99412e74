"""The benchmark harness (benchmarks/): its floors are compiled with the C
core's own flags and compute pygrad's numbers bit for bit; a run times CPU
beside wall, warns where they disagree or samples spread, compares like
with like, and writes the JSON, markdown and CSV it promises; --engine
benchmarks a correct Value class and refuses a wrong one."""
import csv
import importlib.util
import io
import json
import os
import runpy
import subprocess
import sys
import textwrap

import pytest

import pygrad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.append(ROOT)      # after site-packages: an installed pygrad stays first
from benchmarks import external, floor, report, stats, workloads  # noqa: E402
from benchmarks.harness import alternate, load, row  # noqa: E402
from benchmarks.microgpt_value import MicrogptValue  # noqa: E402


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
    others = {"microgpt Value, GC off", "c, microgpt's Adam loop", "c, pygrad Adam", "c compiled, pygrad Adam"}
    assert set(results) == {"microgpt Value"} | others
    baseline = results["microgpt Value"]["losses"]
    assert len(baseline) == 2 and baseline[0] > 0        # one warm-up step, one timed
    for name in others:
        assert results[name]["losses"] == pytest.approx(baseline, rel=1e-9)


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
    assert ours["c, pygrad Adam"] == pytest.approx(ours["microgpt Value"], rel=1e-9)
    assert ours["c, pygrad Adam"] != pytest.approx(theirs["c, pygrad Adam"], rel=1e-3)


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


@pytest.mark.parametrize("reps", ["0", "-1", "two"])
def test_reps_below_one_is_a_usage_error(reps, cli):
    with pytest.raises(SystemExit) as stop:
        cli("--reps", reps, "--only", "memory")
    assert stop.value.code == 2


@pytest.mark.slow
def test_plot_draws_time_per_node_against_size(tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks.__main__ import plot
    rows = [{"workload": "scaling", "engine": e, "n": n, "median": m, "min": 0.9 * m, "max": 1.2 * m}
            for e, m in (("c", 15.0), ("floor", 10.0)) for n in (1000, 10000)]
    assert plot(rows, str(tmp_path / "s.png")) == f"plot: {tmp_path / 's.png'}"
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


# -- CPU beside wall, warnings, like-with-like ratios ----------------------------


@pytest.mark.parametrize("cpu, wall, expected", [
    ([10.0, 10.1, 10.2], [10.0, 10.1, 10.2], []),
    ([10.0, 10.1, 10.2], [50.0, 50.5, 51.0], ["wall 5.00x CPU"]),          # a busy machine
    ([10.0, 10.0, 10.0], [11.9, 11.9, 11.9], []),                           # within 20%
    ([10.0, 10.0, 10.0], [12.1, 12.1, 12.1], ["wall 1.21x CPU"]),
    ([10.0, 10.0, 10.0], [7.9, 7.9, 7.9], ["wall 0.79x CPU"]),             # other threads' CPU
    ([10.0, 10.0, 16.0], [10.0, 10.0, 16.0], ["IQR 30% of median", "max/min 1.60"]),
    ([10.0, 14.0], None, []),                                               # 17% and 1.4: calm enough
    ([10.0, 16.0], None, ["IQR 23% of median", "max/min 1.60"]),
    ([10.0, 11.0, 12.0, 13.0, 30.0], [10.0, 11.0, 12.0, 13.0, 30.0], ["max/min 3.00"]),   # one outlier: IQR calm
    ([5.0], None, []),
])
def test_warnings_for_synthetic_samples(cpu, wall, expected):
    assert stats.warnings(cpu, wall) == expected


def test_a_row_keeps_cpu_and_wall_and_ratios_use_cpu():
    busy = row("w", "x", "ns/op", [(10.0, 50.0), (11.0, 60.0), (12.0, 55.0)], mode="eager", ref="c")
    base = row("w", "c", "ns/op", [(2.0, 2.0), (2.0, 2.1), (2.0, 2.0)], mode="eager", ref=None)
    assert busy["samples"] == [10.0, 11.0, 12.0] and busy["wall_samples"] == [50.0, 60.0, 55.0]
    assert (busy["median"], busy["min"], busy["max"], busy["wall_median"]) == (11.0, 10.0, 12.0, 55.0)
    assert busy["warnings"] == ["wall 5.00x CPU"] and base["warnings"] == []
    (rec_busy, rec_base) = report.records([busy, base])
    assert rec_busy["ratio"] == 11.0 / 2.0 and rec_busy["ratio_of"] == "c"      # CPU, not wall (55 / 2)
    assert rec_base["ratio"] is None
    lines = report.table([busy, base]).splitlines()
    assert [line for line in lines if line.startswith("! ")] == ["! w, x: wall 5.00x CPU"]


def test_ratios_are_taken_only_against_the_named_like_row():
    rows = [row("microgpt", "eager base", "ms/step", [(100.0, 100.0)], mode="eager", ref=None),
            row("microgpt", "c eager", "ms/step", [(4.0, 4.0)], mode="eager", ref="eager base"),
            row("microgpt", "c compiled", "ms/step", [(0.2, 0.2)], mode="compiled", ref=None),
            row("other", "eager base", "ms/step", [(1.0, 1.0)], mode="eager", ref=None)]
    got = {r["engine"]: (r["ratio"], r["ratio_of"]) for r in report.records(rows) if r["workload"] == "microgpt"}
    assert got == {"eager base": (None, ""), "c eager": (0.04, "eager base"), "c compiled": (None, "")}


def test_microgpt_rows_compare_eager_with_eager_and_the_loop_with_the_loop():
    mg = runpy.run_path(os.path.join(ROOT, "examples", "microgpt.py"))
    ctx = workloads.Context(load(["c", "python"])[0], None, dict(workloads.QUICK, reps=1))
    variants = workloads.microgpt_variants(ctx, mg)
    assert variants["microgpt Value"][0] is MicrogptValue and variants["microgpt Value"][4] is None
    for name, (_, _, _, mode, ref) in variants.items():
        if ref is not None:
            assert variants[ref][3] == mode, (name, ref)          # never compiled against eager
    assert variants["c, microgpt's Adam loop"][4] == "microgpt Value"        # the same Python Adam loop
    assert variants["c, pygrad Adam"][4] == "c, microgpt's Adam loop"        # the same engine
    assert variants["c compiled, pygrad Adam"][3:] == ("compiled", None)


def test_microgpt_value_is_microgpts_published_one(engine):
    """Its gradients are the engine's (within rounding), and its sort recurses
    as microgpt's build_topo does (a deep chain overflows Python's limit)."""
    def f(V):
        a, b = V(0.6), V(-0.3)
        c = (a * b + 2.0).log() + (a - b).exp() * (a ** 3).relu() / (b * b + 1.0)
        c.backward()
        return [c.data, a.grad, b.grad]
    assert f(MicrogptValue) == pytest.approx(f(engine), rel=1e-12)
    if sys.implementation.name == "pypy":
        return   # PyPy's recursion limit is approximate: limit + 10 frames may still fit
    deep = MicrogptValue(1.0)
    for _ in range(sys.getrecursionlimit() + 10):
        deep = deep * 1.0
    with pytest.raises(RecursionError):
        deep.backward()


@pytest.fixture
def cli(monkeypatch, floor_module, capsys):
    """`python -m benchmarks ARGS` in this process, on the floor compiled once
    for the module (a subprocess would compile it again: seconds of gcc).
    Returns an object with returncode, stdout and stderr, like run()'s."""
    from benchmarks import __main__ as entry
    monkeypatch.setattr(entry, "floor_or_why", lambda: (floor_module, None))

    def call(*args):
        code = entry.main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return call


def test_a_quick_run_writes_markdown_csv_and_json_with_cpu_and_wall(tmp_path, cli):
    paths = {ext: tmp_path / f"bench.{ext}" for ext in ("json", "md", "csv")}
    proc = cli("--quick", "--reps", "1", "--only", "eager_forward,train_step_compiled", "--engines", "c,python",
               "--json", str(paths["json"]), "--markdown", str(paths["md"]), "--csv", str(paths["csv"]))
    assert proc.returncode == 0, proc.stderr
    assert "CPU median" in proc.stdout and "wall med" in proc.stdout
    results = json.loads(paths["json"].read_text())["results"]
    by = {(r["workload"], r["engine"]): r for r in results}
    assert set(by) == {("eager_forward", "c"), ("eager_forward", "python"), ("train_step_compiled", "c"),
                       ("train_step_compiled", "python"), ("train_step_compiled", "floor"),
                       ("train_step_compiled", "floor, 8-row lanes")}
    for r in results:
        assert len(r["samples"]) == len(r["wall_samples"]) == 1 and r["median"] > 0 and r["wall_median"] > 0
    assert by[("train_step_compiled", "floor, 8-row lanes")]["losses_equal_floor"] is True
    table = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert len(table) == len(results)
    for line in table:
        r = by[(line["workload"], line["engine"])]
        assert float(line["cpu_median"]) == r["median"] and float(line["wall_median"]) == r["wall_median"]
        if r["engine"] != "c":      # every other row of these workloads against the C engine, same mode
            c = by[(r["workload"], "c")]
            assert line["ratio_of"] == "c" and float(line["ratio"]) == r["median"] / c["median"]
    md = paths["md"].read_text().splitlines()
    header = next(line for line in md if line.startswith("| workload"))
    assert "CPU median" in header and "wall median" in header and "CPU min..max" in header
    assert sum(line.startswith("| eager_forward") or line.startswith("| train_step_compiled") for line in md) == 6


VALUES = '''
import math


class Value:
    """A micrograd-style Value, written out for the test."""
    def __init__(self, data, children=()):
        self.data, self.grad, self._prev, self._backward = float(data), 0.0, children, lambda: None

    def _make(self, data, children, backward):
        out = type(self)(data, children)
        out._backward = lambda: backward(out.grad)
        return out

    def __add__(self, o):
        o = o if isinstance(o, Value) else type(self)(o)
        return self._make(self.data + o.data, (self, o), lambda g: self._add(g) or o._add(g))

    def __mul__(self, o):
        o = o if isinstance(o, Value) else type(self)(o)
        return self._make(self.data * o.data, (self, o), lambda g: self._add(o.data * g) or o._add(self.data * g))

    def __pow__(self, k):
        return self._make(self.data ** k, (self,), lambda g: self._add(k * self.data ** (k - 1) * g))

    def relu(self):
        return self._make(max(0.0, self.data), (self,), lambda g: self._add((self.data > 0) * g))

    def tanh(self):
        t = math.tanh(self.data)
        return self._make(t, (self,), lambda g: self._add(self.slope(t) * g))

    @staticmethod
    def slope(t):
        return 1 - t * t

    def exp(self):
        e = math.exp(self.data)
        return self._make(e, (self,), lambda g: self._add(e * g))

    def _add(self, g):
        self.grad += g

    def __neg__(self):
        return self * -1

    def __sub__(self, o):
        return self + (-o)

    def __radd__(self, o):
        return self + o

    def __rmul__(self, o):
        return self * o

    def backward(self):
        topo, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                topo.append(v)
            elif v not in seen:
                seen.add(v)
                stack += [(v, True)] + [(c, False) for c in v._prev]
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


class WrongTanh(Value):
    """tanh's derivative taken as 1 - t: every number right but one gradient."""
    @staticmethod
    def slope(t):
        return 1 - t
'''


@pytest.fixture
def values_file(tmp_path):
    path = tmp_path / "values.py"
    path.write_text(textwrap.dedent(VALUES))
    return path


def test_engine_option_times_a_correct_value_class(tmp_path, values_file, cli):
    out = tmp_path / "bench.json"
    spec = f"{values_file}:Value"
    proc = cli("--quick", "--reps", "1", "--only", "eager_forward,backward_chain,train_step", "--engines", "c",
               "--engine", spec, "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    by = {(r["workload"], r["engine"]): r for r in json.loads(out.read_text())["results"]}
    for workload in ("eager_forward", "backward_chain"):
        mine = by[(workload, spec)]
        if workload == "backward_chain" and sys.version_info < (3, 11):   # (PyPy 3.9 too)
            assert "RecursionError" in mine["note"]   # its recursive sort is refused there, said so
            continue
        assert mine["median"] > 0 and mine["wall_median"] > 0 and mine["ref"] == "c"
    assert "graph workloads only" in by[("train_step", spec)]["note"]


def test_engine_option_refuses_a_class_with_a_wrong_gradient(values_file, cli):
    proc = cli("--quick", "--reps", "1", "--only", "eager_forward", "--engines", "c",
               "--engine", f"{values_file}:WrongTanh")
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"{values_file}:WrongTanh is not benchmarked: d/d" in proc.stderr
    assert "pygrad's reference engine gives" in proc.stderr


@pytest.mark.parametrize("spec, says", [("no_such_module_here:Value", "cannot import no_such_module_here: "
                                                                     "ModuleNotFoundError"),
                                        ("json:NoSuchClass", "json has no class NoSuchClass"),
                                        ("Value", "wants module:Class")])
def test_engine_option_names_what_it_could_not_load(spec, says):
    with pytest.raises(external.Refused, match=says):
        external.load(spec)


def test_engine_option_refuses_a_module_that_fails_to_import(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("class Value:\n    def __init__(self, data)\n")        # no colon
    with pytest.raises(external.Refused, match=r"cannot import .*broken.py: SyntaxError"):
        external.load(f"{broken}:Value")


def test_the_check_accepts_pygrads_own_values(engine, values_file):
    assert external.disagreement(engine) is None
    assert external.disagreement(runpy.run_path(str(values_file))["Value"]) is None
    assert "d/da" in external.disagreement(runpy.run_path(str(values_file))["WrongTanh"])


# -- progress ---------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_is_quiet_at_first_then_plain_lines_off_a_terminal():
    from benchmarks.progress import Progress
    clock, out = Clock(), io.StringIO()          # StringIO is no terminal: plain lines even with tqdm installed
    p = Progress(["a", "b", "c"], stream=out, clock=clock)
    p.start("a")
    p.tick()
    p.finish()
    assert out.getvalue() == ""                  # a quick run says nothing
    clock.t = 5.0
    p.start("b")
    clock.t = 20.0
    p.tick()
    clock.t = 25.0
    p.tick("a graph")                            # within 10 s of the last line: quiet
    clock.t = 31.0
    p.tick("the graph")
    p.finish()
    p.close()
    assert out.getvalue().splitlines() == ["[1/3, 5 s] b ...", "[1/3, 20 s] b: round 1 done",
                                           "[1/3, 31 s] b: the graph done"]
    silent = Progress(["a"], stream=io.StringIO(), enabled=False, clock=clock)
    clock.t = 100.0
    silent.start("a")
    assert silent.stream.getvalue() == ""


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for the C++ port")
def test_the_cpp_row_times_cpu_and_wall_over_the_same_whole_run(tmp_path):
    fake = tmp_path / "microgpt_cpp"
    fake.write_text('#!/bin/sh\n[ "$1" = --steps ] && [ "$2" = 4 ] || exit 3\necho "training: 0.125 ms/step"\n')
    fake.chmod(0o755)
    got = workloads._cpp_microgpt(str(fake), 4)
    assert got["own_timer"] == 0.125 and got["mode"] == "compiled" and got["ref"] is None
    assert len(got["samples"]) == len(got["wall_samples"]) == 1 and got["wall_median"] > 0
    broken = workloads._cpp_microgpt(str(fake), 5)
    assert "median" not in broken and "exit 3" in broken["note"]
