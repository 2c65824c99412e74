"""pygrad.viz.LiveLoss: throttled in-place redraws, with a fake clock and a
recording display (the notebook itself is driven in test_notebook.py)."""
import random
import re
import xml.etree.ElementTree as ET

import pytest

import pygrad
from pygrad._live import boundary_svg, loss_svg
from pygrad.nn import MLP

SVG = "{http://www.w3.org/2000/svg}"


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Recorder:
    """A display: the first picture, then each update, as HTML; drawing
    costs `cost` seconds of the fake clock."""

    def __init__(self, clock, cost=0.0):
        self.clock, self.cost, self.shown = clock, cost, []

    def __call__(self, picture):
        self._take(picture)
        return self._take

    def _take(self, picture):
        self.clock.t += self.cost
        self.shown.append(picture._repr_html_())


def test_redraws_at_most_once_per_interval():
    clock = Clock()
    rec = Recorder(clock)
    live = pygrad.viz.LiveLoss(interval=10 / 128, display=rec, clock=clock)
    drew = []
    for k in range(100):              # a step every 1/128 s (exact in binary): a redraw every 10 steps
        clock.t += 1 / 128
        drew.append(live.update(k, 1.0 / (k + 1)))
    assert [k for k, d in enumerate(drew) if d] == list(range(0, 100, 10))
    assert len(rec.shown) == live.updates == 10 and len(live.history) == 100
    live.close()
    assert "step 99 " in rec.shown[-1] and len(rec.shown) == 11


def test_slow_drawing_is_held_to_the_budget():
    clock = Clock()
    rec = Recorder(clock, cost=0.02)    # each picture takes 20 ms
    live = pygrad.viz.LiveLoss(interval=0.0, budget=0.05, display=rec, clock=clock)
    for k in range(1000):
        clock.t += 0.01
        live.update(k, 1.0)
    elapsed = clock.t
    drawing = 0.02 * len(rec.shown)
    assert drawing <= 0.05 * elapsed + 0.02     # within budget (give or take the last picture)
    assert drawing >= 0.04 * elapsed            # and it does use it


def test_outside_a_notebook_it_only_records():
    live = pygrad.viz.LiveLoss()                # no IPython kernel in pytest
    assert live.update(0, 2.5) is True and live.history == [(0, 2.5)]
    live.close()
    assert "<svg" in live._repr_html_()


def test_loss_curve_points_are_the_losses_scaled():
    history = [(k, float((k - 5) ** 2)) for k in range(11)]   # 25 .. 0 .. 25
    svg = loss_svg(history)
    pts = ET.fromstring(svg).find(f"{SVG}polyline").get("points").split()
    xy = [tuple(map(float, p.split(","))) for p in pts]
    assert len(xy) == 11
    ys = [y for _, y in xy]
    assert ys[0] == ys[-1] == 0.0 and ys[5] == max(ys)   # top is the max loss, bottom the min
    xs = [x for x, _ in xy]
    assert xs == sorted(xs) and len(set(round(b - a, 6) for a, b in zip(xs, xs[1:]))) == 1
    assert "step 10  loss 25" in svg


def test_long_histories_are_thinned():
    svg = loss_svg([(k, 1.0 / (k + 1)) for k in range(100_000)])
    assert len(ET.fromstring(svg).find(f"{SVG}polyline").get("points").split()) <= 402


def test_nan_losses_do_not_break_the_curve():
    svg = loss_svg([(0, 1.0), (1, float("nan")), (2, float("inf")), (3, 0.5)])
    assert len(ET.fromstring(svg).find(f"{SVG}polyline").get("points").split()) == 2


def test_decision_boundary_is_the_models_sign(engine):
    random.seed(2)
    model = MLP(2, [4, 1])
    pts, labels = [(-1.0, -1.0), (1.0, 0.5), (0.0, 1.0)], [1.0, -1.0, 1.0]
    svg = boundary_svg(model, pts, labels)
    cells = ET.fromstring(svg).findall(f"{SVG}rect")
    assert len(cells) == 24 * 24
    x0, x1, y0, y1 = -1.5, 1.5, -1.5, 1.5
    for n, cell in enumerate(cells):
        i, j = divmod(n, 24)
        a, b = x0 + (i + 0.5) * (x1 - x0) / 24, y1 - (j + 0.5) * (y1 - y0) / 24
        positive = model([engine(a), engine(b)]).data > 0
        assert cell.get("fill") == ("#9ecae1" if positive else "#fdae6b")
    assert len(ET.fromstring(svg).findall(f"{SVG}circle")) == 3


def test_boundary_waits_its_interval_then_updates():
    clock = Clock()
    rec = Recorder(clock)
    random.seed(3)
    model = MLP(2, [3, 1])
    live = pygrad.viz.LiveLoss(interval=0.125, boundary=([(0, 0), (1, 1)], [1, -1]), boundary_interval=1.0,
                               display=rec, clock=clock)
    for k in range(25):
        clock.t += 0.125
        live.update(k, 1.0, model)
    with_map = [bool(re.search(r"<rect[^>]*fill=\"#(9ecae1|fdae6b)\"", html)) for html in rec.shown]
    assert len(rec.shown) == 25
    assert with_map.index(True) == 7        # the first picture at t = 1 s
    assert all(with_map[9:])


def test_a_slow_model_gets_its_boundary_drawn_within_the_budget():
    clock = Clock()
    rec = Recorder(clock)

    def model(xs):                       # each call costs 10 ms: a 24 x 24 boundary costs 5.76 s
        clock.t += 0.01
        return pygrad.Value(1.0)
    live = pygrad.viz.LiveLoss(interval=1.0, budget=0.04, boundary=([(0, 0)], [1]), boundary_interval=1.0,
                               display=rec, clock=clock)
    drawn_at = []
    for k in range(400):
        clock.t += 1.0
        before = clock.t
        live.update(k, 1.0, model)
        if clock.t - before > 1.0:       # the boundary was drawn in this update
            drawn_at.append(before)
    assert drawn_at                      # drawn, but only once 4% of the time covers it
    assert drawn_at[0] >= 5.76 / 0.04
    assert 5.76 * len(drawn_at) <= 0.04 * clock.t + 0.1


def test_no_budget_draws_every_interval():
    clock = Clock()
    rec = Recorder(clock, cost=1.0)         # drawing far slower than the loop
    live = pygrad.viz.LiveLoss(interval=0.0, budget=None, display=rec, clock=clock)
    for k in range(5):
        clock.t += 0.001
        live.update(k, 1.0)
    assert len(rec.shown) == 5


def test_bad_settings_are_value_errors():
    for kwargs in ({"interval": -1}, {"budget": 0}, {"budget": 2}, {"boundary_interval": -1}):
        with pytest.raises(ValueError):
            pygrad.viz.LiveLoss(display=None, **kwargs)
    with pytest.raises(ValueError):
        pygrad.viz.LiveLoss(boundary=([(0, 0)], [1, 1]), display=None)
