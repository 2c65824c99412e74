"""The examples, run as a user runs them: a fresh interpreter per run, the
engine chosen by PYGRAD_ENGINE, and their printed lines checked exactly
(the tutorial's figures, micrograd's first loss, C == Python line by line).
"""
import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pygrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# The tutorial's printed run (../shared/seed/tutorial.txt), which trained on
# the 1-bedroom house only.
TUTORIAL = """\
Initial weights: [0.09]
Initial bias: -0.9
Epoch 0, Loss: 3.2761
Epoch 1, Loss: 2.096704
Epoch 2, Loss: 1.3418905599999997
Epoch 3, Loss: 0.8588099583999995
Epoch 4, Loss: 0.5496383733759997
Epoch 5, Loss: 0.35176855896063985
Epoch 6, Loss: 0.2251318777348095
Epoch 7, Loss: 0.14408440175027803
Epoch 8, Loss: 0.09221401712017797
Epoch 9, Loss: 0.05901697095691388
Epoch 10, Loss: 0.03777086141242487
Epoch 11, Loss: 0.02417335130395193
Epoch 12, Loss: 0.015470944834529213
Epoch 13, Loss: 0.009901404694098687
Epoch 14, Loss: 0.006336899004223174
Epoch 15, Loss: 0.004055615362702837
Epoch 16, Loss: 0.0025955938321298136
Epoch 17, Loss: 0.0016611800525630788
Epoch 18, Loss: 0.0010631552336403704
Epoch 19, Loss: 0.0006804193495298324
Epoch 20, Loss: 0.0004354683836990928
Epoch 21, Loss: 0.0002786997655674194
Epoch 22, Loss: 0.00017836784996314722
Epoch 23, Loss: 0.00011415542397641612
Epoch 24, Loss: 7.305947134490555e-05
Epoch 25, Loss: 4.675806166074016e-05
Epoch 26, Loss: 2.9925159462873704e-05
Epoch 27, Loss: 1.915210205623956e-05
Epoch 28, Loss: 1.2257345315993629e-05
Epoch 29, Loss: 7.844701002235673e-06
Epoch 30, Loss: 5.020608641430632e-06
""".splitlines()

STEP = re.compile(r"step (\d+) loss (\S+), accuracy (\S+)%$")


def run(script, engine, *args, env=None):
    """Run examples/<script> on `engine`; its stdout lines, after checking
    that it printed the engine's name first and nothing on stderr."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env={**os.environ, **(env or {}), "PYGRAD_ENGINE": engine},
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0] == f"pygrad engine: {engine}"
    return lines[1:]


def load_example(script):
    name = script[:-3] + "_example"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / script)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLES))     # as when run as a script: for its _plotting and _cli imports
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


def load_moons():
    return load_example("moons.py")


# -- parabola ---------------------------------------------------------------


def test_parabola(engine):
    lines = run("parabola.py", pygrad.get_engine())
    # the tutorial's nudges and its slope at 2/3, digit for digit
    assert "f(3.0 + 0.1) = 21.430000000000007" in lines
    assert "f(-4.4 + 0.1) = 77.67000000000002" in lines
    assert "slope at x = 2/3 with h = 0.0001: 0.0002999999981767587" in lines
    # autograd's slope of 3x^2 - 4x + 5 at 2 is exactly 6*2 - 4
    assert "f(2.0) = 9.0, slope = 8.0" in lines
    assert lines[-1].startswith("final x: ")
    x = float(lines[-1].split()[2])
    assert abs(x - 2 / 3) < 1e-6


# -- house prices -----------------------------------------------------------


def test_house_prices_reproduces_the_tutorial(engine):
    lines = run("house_prices.py", pygrad.get_engine())
    assert lines[:len(TUTORIAL)] == TUTORIAL
    assert lines[2:102] == [line for line in lines if line.startswith("Epoch ")]  # all 100 epochs
    assert lines[101].startswith("Epoch 99, Loss: ")
    assert lines[102:] == ["Predicted price for a 5-bedroom house: $498000.00"]


def plain_float_losses(houses, epochs=100, lr=0.05):
    """The training loop on plain floats, gradients by hand: d(loss)/d(pred)
    = 2 * diff, times x for the weight. Every step is exact in the same
    order as the graph's, so the printed losses must match bitwise."""
    w, b, losses = 0.09, -0.9, []
    for _ in range(epochs):
        total = 0
        for x, y in houses:
            diff = (b + w * x) - y
            g = diff + diff
            total = total + diff * diff
            w, b = w - lr * (x * g), b - lr * g
        losses.append(total / len(houses))
    return losses, b + w * 5


def test_all_three_houses_against_plain_floats(engine):
    # (the 1-house run's figures are the tutorial's, checked above)
    lines = run("house_prices.py", pygrad.get_engine(), "--all-houses")
    losses, prediction = plain_float_losses([(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)])
    price = "$500281.35"
    assert lines[:2] == TUTORIAL[:2]
    assert lines[2:102] == [f"Epoch {k}, Loss: {loss}" for k, loss in enumerate(losses)]
    assert f"${prediction * 100000:.2f}" == price
    assert lines[102:] == [f"Predicted price for a 5-bedroom house: {price}"]


# -- moons ------------------------------------------------------------------


def moons_steps(lines):
    steps = [STEP.match(line) for line in lines if line.startswith("step ")]
    return [(int(m[1]), float(m[2]), float(m[3])) for m in steps]


@pytest.mark.slow
def test_moons_short_run_identical_on_both_engines():
    c, py = run("moons.py", "c", "--steps", "10"), run("moons.py", "python", "--steps", "10")
    assert c == py
    steps = moons_steps(c)
    assert [k for k, _, _ in steps] == list(range(10))
    # micrograd's demo prints this first line too (same data, same weights)
    assert "step 0 loss 0.8958441028683222, accuracy 50.0%" in c
    assert steps[-1][1] < steps[0][1] / 2
    assert steps[-1][2] > steps[0][2]


@pytest.mark.slow
def test_moons_trains_to_full_accuracy():
    steps = moons_steps(run("moons.py", "c"))
    assert len(steps) == 100
    assert steps[-1][2] == 100.0
    assert steps[-1][1] < 0.02


@pytest.mark.slow
def test_moons_compiled_matches_the_eager_run():
    # Compiled, the gradients are summed in another order (each row's,
    # scaled by 1/n, instead of through the mean's graph), so the losses
    # agree to rounding, not to the bit; everything else is identical.
    eager, compiled = run("moons.py", "c"), run("moons.py", "c", "--compiled")
    assert compiled[:2] == eager[:2]                 # the model and its size
    assert len(compiled) == len(eager) == 102        # no timing line without --time
    steps, eager_steps = moons_steps(compiled), moons_steps(eager)
    assert [k for k, _, _ in steps] == list(range(100))
    assert steps[0] == eager_steps[0]                # before any update: bitwise
    for (_, loss, acc), (_, eager_loss, eager_acc) in zip(steps, eager_steps):
        assert loss == pytest.approx(eager_loss, rel=1e-12, abs=0)
        assert acc == eager_acc
    assert steps[-1][2] == 100.0


@pytest.mark.slow
def test_moons_compiled_identical_on_both_engines():
    # the reference engine's replay is the spec of the C program: same bits
    c = run("moons.py", "c", "--compiled", "--steps", "10")
    assert run("moons.py", "python", "--compiled", "--steps", "10") == c
    assert "step 0 loss 0.8958441028683222, accuracy 50.0%" in c


def test_moons_time_flag_prints_the_training_time():
    lines = run("moons.py", "c", "--compiled", "--steps", "3", "--time")
    assert len(moons_steps(lines)) == 3
    assert re.fullmatch(r"training time: \d+\.\d{3} s", lines[-1])


def test_make_moons_lies_on_the_two_half_circles():
    np = pytest.importorskip("numpy")
    np.random.seed(0)
    X, y = load_moons().make_moons(n_samples=101, noise=0.0)
    assert X.shape == (101, 2) and sorted(y.tolist()) == [0] * 50 + [1] * 51
    outer, inner = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1.0)
    assert (outer[:, 1] >= -1e-12).all() and (inner[:, 1] <= 0.5 + 1e-12).all()
    assert y.tolist() != sorted(y.tolist())          # shuffled


# -- plots: optional, and never required -------------------------------------

PLOT_RUNS = [("parabola.py",), ("house_prices.py",), ("moons.py", "--steps", "2")]


@pytest.mark.slow
@pytest.mark.parametrize("script_args", PLOT_RUNS, ids=lambda a: a[0])
def test_plot_writes_a_png(script_args, engine, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "out.png"
    lines = run(*script_args[:1], pygrad.get_engine(), *script_args[1:], "--plot", str(png))
    assert lines[-1] == f"saved {png}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("script_args", PLOT_RUNS, ids=lambda a: a[0])
def test_plot_without_matplotlib_still_runs(script_args, tmp_path):
    # A package named matplotlib that fails to import stands in for its absence.
    (tmp_path / "matplotlib").mkdir()
    (tmp_path / "matplotlib" / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    png = tmp_path / "out.png"
    lines = run(*script_args[:1], "python", *script_args[1:], "--plot", str(png), env=env)
    assert lines[-1] == "matplotlib is not installed: no plot"
    assert not png.exists()


# -- the command lines: shared flags, defaults in --help, bad values refused --

# Each example's flags and the defaults --help must show ("" for none).
FLAGS = {
    "parabola.py": {"--seed": "0", "--engine": "", "--plot": "", "--steps": "30", "--lr": "0.1", "--x0": "3.0"},
    "house_prices.py": {"--seed": "0", "--engine": "", "--plot": "", "--all-houses": "", "--epochs": "100"},
    "moons.py": {"--seed": "1337", "--engine": "", "--plot": "", "--steps": "100", "--compiled": "", "--time": ""},
    "microgpt.py": {"--seed": "42", "--engine": "", "--plot": "", "--steps": "1000", "--data": "",
                    "--samples": "20", "--compiled": "", "--fast": "", "--n-embd": "16"},
    "sweep.py": {"--seed": "1337", "--engine": "", "--plot": "", "--steps": "30", "--workers": str(os.cpu_count()),
                 "--backend": "auto", "--scheduler": "", "--check": ""},
}


def run_main(script, *args):
    """Run examples/<script>'s main() in this process with sys.argv set, as
    `python examples/<script> *args` would (faster than a fresh interpreter);
    (exit status, stdout, stderr). The engine it chose is put back."""
    module = load_example(script)
    before, argv = pygrad.get_engine(), sys.argv
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [str(EXAMPLES / script), *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            module.main()
        code = 0
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
        pygrad.use_engine(before)
    return code, out.getvalue(), err.getvalue()


def help_entries(text):
    """{flag: its help text} from argparse's --help (entries may wrap)."""
    entries, flag = {}, None
    for line in re.split(r"^(?:optional arguments|options):\n", text, maxsplit=1, flags=re.M)[1].splitlines():
        m = re.match(r"  (-[-\w]+)(?:,? [^ ]+)*(?:  +(.*))?$", line)
        if m and line.startswith("  -"):
            flag = m[1] if m[1] != "-h" else None
            if flag:
                entries[flag] = m[2] or ""
        elif flag:
            entries[flag] += " " + line.strip()
    return entries


@pytest.mark.parametrize("script", sorted(FLAGS))
def test_help_has_a_line_per_flag_with_its_default(script):
    rc, out, err = run_main(script, "--help")
    assert (rc, err) == (0, "")
    entries = help_entries(out)
    assert sorted(entries) == sorted(FLAGS[script])
    for flag, default in FLAGS[script].items():
        text = " ".join(entries[flag].split())
        assert len(text) > 10, flag                      # says what it does
        if default:
            assert text.endswith(f"(default: {default})"), (flag, text)
        else:
            assert "(default: None)" not in text and "(default: False)" not in text
    assert "PYGRAD_ENGINE" in entries["--engine"] and "matplotlib" in entries["--plot"]


BAD = [
    ("moons.py", ["--steps", "-5"], "argument --steps: must be at least 1, got -5"),
    ("parabola.py", ["--steps", "-5"], "argument --steps: must be at least 1, got -5"),
    ("parabola.py", ["--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
    ("house_prices.py", ["--epochs", "x"], "argument --epochs: expected a whole number, got 'x'"),
    ("microgpt.py", ["--steps", "-5"], "argument --steps: must be at least 1, got -5"),
    ("microgpt.py", ["--data", "no-such-file.txt"], "argument --data: no such file: no-such-file.txt"),
    ("microgpt.py", ["--n-embd", "6"], "--n-embd must be a positive multiple of 4 (the heads)"),
    ("microgpt.py", ["--fast"], "--fast needs --compiled"),
    ("sweep.py", ["--workers", "0"], "argument --workers: must be at least 1, got 0"),
    ("sweep.py", ["--scheduler", "tcp://127.0.0.1:1"], "--scheduler is for --backend dask"),
    ("moons.py", ["--plot", "no-such-folder/out.png"], "argument --plot: folder 'no-such-folder' does not exist"),
    ("sweep.py", ["--plot", "no-such-folder/out.png"], "argument --plot: folder 'no-such-folder' does not exist"),
    ("house_prices.py", ["--plot", "loss.pdf"], "argument --plot: the plot is a PNG: the path must end in .png, "
                                                "got 'loss.pdf'"),
    ("moons.py", ["--engine", "gpu"], "argument --engine: invalid choice: 'gpu' (choose from "),  # quoting: by version
]


@pytest.mark.parametrize("script,args,message", BAD, ids=lambda x: x if isinstance(x, str) else None)
def test_a_bad_value_is_one_line_before_any_work(script, args, message):
    rc, out, err = run_main(script, *args)
    assert rc == 2
    assert out == ""                                     # nothing ran: not even the engine line
    (line,) = err.splitlines()
    assert line == f"{script}: error: {message}" or message.endswith("from ") and line.startswith(message, 17)


def test_a_bad_value_stops_a_real_run_too():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "moons.py"), "--steps", "-5"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "moons.py: error: argument --steps: must be at least 1, got -5\n"


@pytest.mark.parametrize("script,args", [("parabola.py", ["--steps", "1"]), ("house_prices.py", ["--epochs", "1"]),
                                         ("microgpt.py", ["--steps", "1", "--samples", "0"])])
def test_the_engine_flag_wins_over_the_environment(script, args, monkeypatch, names_file):
    if script == "microgpt.py":
        args += ["--data", names_file]
    for flag, env in (("python", "c"), ("c", "python")):
        monkeypatch.setenv("PYGRAD_ENGINE", env)
        pygrad.use_engine(env)                      # as a fresh interpreter with PYGRAD_ENGINE would start
        rc, out, err = run_main(script, "--engine", flag, *args)
        assert (rc, err) == (0, "")
        first = out.splitlines()[0]
        assert first == f"pygrad engine: {flag}" or first.endswith(f"parameters, engine {flag}")


def test_the_seed_flag_draws_other_data_and_weights(names_file):
    # micrograd's seed is the default: its demo's first line (pinned in the slow tests without --seed)
    layers = ("MLP of [Layer of [ReLUNeuron(2)" + ", ReLUNeuron(2)" * 15 + "], Layer of [ReLUNeuron(16)"
              + ", ReLUNeuron(16)" * 15 + "], Layer of [LinearNeuron(16)]]")
    first = [layers, "number of parameters 337", "step 0 loss 0.8958441028683222, accuracy 50.0%"]
    assert run_main("moons.py", "--engine", "c", "--steps", "1", "--seed", "1337")[1].splitlines()[1:] == first
    other = moons_steps(run_main("moons.py", "--engine", "c", "--steps", "1", "--seed", "7")[1].splitlines())
    assert len(other) == 1 and other[0][1] != 0.8958441028683222
    # microgpt: the seed shuffles the documents and draws the weights
    runs = [[line for line in run_main("microgpt.py", "--steps", "2", "--samples", "2", "--data", names_file,
                                       "--seed", seed)[1].splitlines() if not line.startswith("training:")]
            for seed in ("42", "42", "3")]
    assert runs[0] == runs[1] != runs[2]
    losses = [[line for line in run if line.startswith("step")] for run in runs]
    assert losses[0] != losses[2]


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("emma\nolivia\nava\nisabella\nsophia\nmia\n")
    return str(path)


def test_the_dask_backend_without_dask_is_one_line(tmp_path):
    # A package named dask that fails to import stands in for its absence.
    (tmp_path / "dask").mkdir()
    (tmp_path / "dask" / "__init__.py").write_text("raise ImportError('no dask here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(EXAMPLES / "sweep.py"), "--backend", "dask"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == ('sweep.py: error: --backend dask needs Dask\'s distributed scheduler: '
                           'pip install "dask[distributed]"\n')
