"""One result row: a workload on an engine, its raw samples and their summary."""
from .stats import summarize


def row(workload, engine, unit, samples, size=None, note="", ratios=True, **extra):
    """A measured row. `size` is the work per sample (ops or nodes);
    `ratios=False` for rows where engine/engine ratios mean nothing (depths)."""
    r = {"workload": workload, "engine": engine, "unit": unit, "samples": list(samples),
         "size": size, "note": note, "ratios": ratios, "extra": extra}
    r.update(summarize(samples))
    return r


def note_row(workload, engine, note):
    """An engine that could not run this workload, and why."""
    return {"workload": workload, "engine": engine, "unit": "", "samples": [], "size": None,
            "note": note, "ratios": False, "extra": {}, "median": None, "min": None, "max": None, "n": 0}


def rows_from(workload, unit, samples, notes, size=None, scale=1.0, **extra):
    """Rows for every engine of one alternate() run: numbers, then notes."""
    out = [row(workload, name, unit, [x * scale for x in xs], size=size, **extra)
           for name, xs in samples.items()]
    out += [note_row(workload, name, note) for name, note in notes.items()]
    return out
