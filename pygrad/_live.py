"""Live training plots for notebooks: `pygrad.viz.LiveLoss`.

    live = pygrad.viz.LiveLoss()                  # or LiveLoss(boundary=(X, y))
    for k in range(steps):
        ...
        live.update(k, loss.data, model)          # cheap: most calls only record
    live.close()                                  # the final picture

The loss curve (and, given 2-D data, the classifier's decision boundary)
is drawn as SVG and sent to one IPython display handle, updated in place.
Redrawing is throttled by time so that it never costs training much: a
picture is redrawn when `interval` seconds (wall time) have passed since
the last one AND drawing it again keeps the CPU time spent drawing under
`budget` of the CPU time since the start (so a slow picture, like the
boundary, is simply drawn less often; budget=None: no limit). With the
defaults the loss curve updates up to 20 times a second and drawing takes
about 3% of the loop. Outside a notebook (no IPython kernel) nothing is
shown; the losses are still recorded in `.history`.
"""
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import _svg

W, H, M = 420.0, 220.0, 40.0      # a plot's size and margin
MAX_POINTS = 400                  # the curve is thinned to this many points
GRID = 24                         # the decision boundary's grid, per side


class _Picture:
    """An object IPython shows by its SVG."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg


def notebook_display() -> Optional[Callable[[Any], Callable[[Any], None]]]:
    """A function that shows a first picture and returns its updater, or
    None outside an IPython kernel."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None

    def show(first: Any) -> Callable[[Any], None]:
        return display(first, display_id=True).update
    return show


class LiveLoss:
    """The loss curve (and optionally a decision boundary) updating in place."""

    def __init__(self, interval: float = 0.05, budget: Optional[float] = 0.03,
                 boundary: Optional[Tuple[Sequence[Sequence[float]], Sequence[float]]] = None,
                 boundary_interval: float = 1.0, display: Any = "auto",
                 clock: Callable[[], float] = time.perf_counter, cpu_clock: Optional[Callable[[], float]] = None
                 ) -> None:
        if not (interval >= 0 and (budget is None or 0 < budget <= 1) and boundary_interval >= 0):
            raise ValueError("LiveLoss: interval >= 0, 0 < budget <= 1 (or None) and boundary_interval >= 0")
        self.history: List[Tuple[int, float]] = []
        self.updates = 0                    # pictures sent
        self.boundary_draws = 0
        self.interval, self.budget, self.boundary_interval = interval, budget, boundary_interval
        # Intervals are wall time (what the eye sees); the budget is this
        # process's CPU time, so a busy machine does not make drawing look cheap.
        self.clock = clock
        self.cpu = cpu_clock or (time.process_time if clock is time.perf_counter else clock)
        self.start, self.cpu_start = clock(), self.cpu()
        self.spent = 0.0                    # CPU seconds spent drawing, both pictures together
        self.last_curve = -float("inf")
        self.last_map = self.start          # the first boundary waits an interval: it costs a model call per cell
        self.cost: Dict[str, Optional[float]] = {"curve": 0.0, "map": None}   # each picture's last cost
        self.points = _points(boundary) if boundary is not None else None
        self.boundary_svg = ""
        self._show = notebook_display() if display == "auto" else display
        self._update: Optional[Callable[[Any], None]] = None

    def update(self, step: int, loss: float, model: Any = None) -> bool:
        """Record this step's loss; redraw if due. True if it redrew."""
        self.history.append((step, float(loss)))
        now = self.clock()
        if not self._due("curve", self.last_curve, self.interval, now):
            return False
        self.last_curve = now
        if model is not None and self.points is not None:
            if self.cost["map"] is None:
                self.cost["map"] = self._estimate_map(model)
            if self._due("map", self.last_map, self.boundary_interval, now):
                self.last_map = now
                began = self.cpu()
                self.boundary_svg = boundary_svg(model, *self.points)
                self.boundary_draws += 1
                self._spend("map", began)
        began = self.cpu()
        self._send()
        self._spend("curve", began)
        return True

    def _estimate_map(self, model: Any) -> float:
        # Before the first boundary: one model call, times the grid's cells.
        from ._engines import value_class
        began = self.cpu()
        model([value_class()(0.0), value_class()(0.0)])
        cost = (self.cpu() - began) * GRID * GRID
        self.spent += cost / (GRID * GRID)
        return cost

    def _due(self, picture: str, last: float, interval: float, now: float) -> bool:
        # Due if drawing it again (taking as long as last time) keeps within the budget.
        if now - last < interval:
            return False
        elapsed = self.cpu() - self.cpu_start
        return self.budget is None or self.spent + (self.cost[picture] or 0.0) <= self.budget * elapsed

    def _spend(self, picture: str, began: float) -> None:
        cost = self.cpu() - began
        self.cost[picture] = cost
        self.spent += cost

    def close(self) -> None:
        """Draw the last state (call after the loop)."""
        self._send()

    def svg(self) -> str:
        return "<div>" + loss_svg(self.history) + self.boundary_svg + "</div>"

    def _repr_html_(self) -> str:
        return self.svg()

    def _send(self) -> None:
        self.updates += 1
        if self._show is None:
            return
        picture = _Html(self.svg())
        if self._update is None:
            self._update = self._show(picture)
        else:
            self._update(picture)


class _Html:
    def __init__(self, html: str) -> None:
        self.html = html

    def _repr_html_(self) -> str:
        return self.html


def loss_svg(history: Sequence[Tuple[int, float]]) -> str:
    """The loss against the step, thinned to MAX_POINTS points."""
    stride = max(1, len(history) // MAX_POINTS)
    pts = [history[i] for i in range(0, len(history), stride)]
    if history and pts[-1] != history[-1]:
        pts.append(history[-1])
    finite = [(s, v) for s, v in pts if v == v and abs(v) != float("inf")]
    body = [f'<rect x="{M}" y="0" width="{W - M:.0f}" height="{H - M:.0f}" fill="none" stroke="#999"/>']
    title = f"step {history[-1][0]}  loss {history[-1][1]:.6g}" if history else "no steps yet"
    body.append(_svg.label(M, H - M + 30, title))
    if finite:
        s0, s1 = finite[0][0], max(finite[-1][0], finite[0][0] + 1)
        lo, hi = min(v for _, v in finite), max(v for _, v in finite)
        hi = hi if hi > lo else lo + 1.0
        xy = " ".join(f"{M + (s - s0) / (s1 - s0) * (W - M):.1f},{(hi - v) / (hi - lo) * (H - M):.1f}"
                      for s, v in finite)
        body.append(f'<polyline points="{xy}" fill="none" stroke="#c33" stroke-width="1.5"/>')
        body.append(_svg.label(0, 12, f"{hi:.3g}"))
        body.append(_svg.label(0, H - M, f"{lo:.3g}"))
    return _svg.document(W, H, body, pad=4)


def _points(boundary: Any) -> Tuple[List[Tuple[float, float]], List[float]]:
    X, y = boundary
    pts = [(float(a), float(b)) for a, b in X]
    if len(pts) != len(y) or not pts:
        raise ValueError("boundary=(X, y): one label per 2-D point, at least one point")
    return pts, [float(v) for v in y]


def boundary_svg(model: Any, pts: List[Tuple[float, float]], labels: List[float]) -> str:
    """The sign of model([x, y]) over a GRID x GRID grid, with the data on top."""
    from ._engines import value_class
    V = value_class()
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs) - 0.5, max(xs) + 0.5, min(ys) - 0.5, max(ys) + 0.5
    side = H - M
    cell = side / GRID
    body = []
    for i in range(GRID):
        for j in range(GRID):
            a, b = x0 + (i + 0.5) * (x1 - x0) / GRID, y1 - (j + 0.5) * (y1 - y0) / GRID
            out = model([V(a), V(b)])
            score = (out[0] if isinstance(out, list) else out).data
            color = "#9ecae1" if score > 0 else "#fdae6b"
            body.append(f'<rect x="{i * cell:.1f}" y="{j * cell:.1f}" width="{cell + 0.5:.1f}" '
                        f'height="{cell + 0.5:.1f}" fill="{color}"/>')
    for (a, b), label in zip(pts, labels):
        cx, cy = (a - x0) / (x1 - x0) * side, (y1 - b) / (y1 - y0) * side
        body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{"#08519c" if label > 0 else "#a63603"}"/>')
    return _svg.document(side, side, body, pad=4)
