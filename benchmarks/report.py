"""The results as a terminal table, markdown and CSV, from one list of
columns, so the three never disagree. Ratios are CPU medians, each row's
against the row it names as its `ref` (same workload, same size): like
with like, eager against eager, compiled against compiled."""
import csv
import io

HINT = ("Rows marked ! are to be read with care: wall far from CPU means other processes held the core "
        "(or the code waited), so read the CPU column; a wide spread means the samples disagree, "
        "so rerun with more --reps on a quieter machine")


def label(r):
    """The row's workload, with its graph size for the scaling rows."""
    return r["workload"] + (f" {r['n']:.0e}".replace("e+0", "e") if "n" in r else "")


def ratio(r, results):
    """(this row's CPU median / its reference's, the reference's name), or (None, "")."""
    ref = r.get("ref")
    base = next((b for b in results if ref and b["engine"] == ref and b["workload"] == r["workload"]
                 and b.get("n") == r.get("n") and "median" in b), None)
    if base is None or "median" not in r or not base["median"]:
        return None, ""
    return r["median"] / base["median"], ref


def records(results):
    """One flat dict per row: the columns of every output."""
    out = []
    for r in results:
        x, ref = ratio(r, results)
        wall = r.get("wall_median")
        out.append({
            "workload": label(r), "engine": r["engine"], "mode": r.get("mode", ""), "unit": r["unit"],
            "samples": len(r.get("samples", [])),
            **{f"cpu_{k}": r.get(k) for k in ("median", "min", "max", "iqr")},
            **{f"wall_{k}": r.get(f"wall_{k}") for k in ("median", "min", "max", "iqr")},
            "wall_over_cpu": wall / r["median"] if wall is not None and r.get("median") else None,
            "ratio": x, "ratio_of": ref, "warnings": "; ".join(r.get("warnings", [])), "note": r.get("note", ""),
        })
    return out


def _num(x, fmt=".4g"):
    return "" if x is None else format(x, fmt)


def table(results):
    """The terminal table, then one `!` line per row that earned warnings."""
    head = (f"{'workload':<20} {'engine':<30} {'mode':<8} {'CPU median':>10} {'CPU min..max':>19} "
            f"{'wall med':>9} {'wall/CPU':>8} {'unit':<8} ratio (CPU)")
    lines, flagged = [head], []
    for rec in records(results):
        if rec["cpu_median"] is None:
            lines.append(f"{rec['workload']:<20} {rec['engine']:<30} {rec['note']}")
            continue
        spread = f"{_num(rec['cpu_min'])}..{_num(rec['cpu_max'])}"
        x = f"{rec['ratio']:.3g}x {rec['ratio_of']}" if rec["ratio"] is not None else ""
        lines.append(f"{rec['workload']:<20} {rec['engine']:<30} {rec['mode']:<8} {_num(rec['cpu_median']):>10} "
                     f"{spread:>19} {_num(rec['wall_median']):>9} {_num(rec['wall_over_cpu'], '.2f'):>8} "
                     f"{rec['unit']:<8} {x}")
        if rec["warnings"]:
            flagged.append(f"! {rec['workload']}, {rec['engine']}: {rec['warnings']}")
    return "\n".join(lines + ([""] + flagged + [HINT] if flagged else []))


def markdown(results, title):
    """A markdown table (the CPU median's spread beside it), warnings in their own column."""
    cols = ["workload", "engine", "mode", "CPU median", "CPU min..max", "CPU IQR", "wall median", "wall/CPU",
            "unit", "ratio (CPU)", "warnings"]
    lines = [f"# {title}", "", "| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for rec in records(results):
        if rec["cpu_median"] is None:
            cells = [rec["workload"], rec["engine"], rec["mode"]] + [""] * 7 + [rec["note"]]
        else:
            cells = [rec["workload"], rec["engine"], rec["mode"], _num(rec["cpu_median"]),
                     f"{_num(rec['cpu_min'])}..{_num(rec['cpu_max'])}", _num(rec["cpu_iqr"]),
                     _num(rec["wall_median"]), _num(rec["wall_over_cpu"], ".2f"), rec["unit"],
                     f"{rec['ratio']:.3g}x {rec['ratio_of']}" if rec["ratio"] is not None else "", rec["warnings"]]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines + ["", HINT, ""])


def csv_text(results):
    """Every column of `records`, one line per row; empty cells where nothing was measured."""
    recs = records(results)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(recs[0]) if recs else ["workload"], lineterminator="\n")
    writer.writeheader()
    for rec in recs:
        writer.writerow({k: "" if v is None else (repr(v) if isinstance(v, float) else v) for k, v in rec.items()})
    return buf.getvalue()
