"""The scaling curve as a PNG: time against graph size per engine, log-log
(matplotlib's Agg backend, so no display is needed). A dashed line of
slope 1 marks linear cost."""


def scaling_plot(rows, path):
    """Write the PNG; returns None, or a note saying why there is no plot."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no plot"
    curves = {}
    for r in rows:
        part = r["extra"].get("scaling")
        if part and r["median"] is not None:
            n = r["extra"]["n"]
            curves.setdefault(part, {}).setdefault(r["engine"], []).append((n, r["median"] * n * 1e-9))
    if not curves:
        return "no scaling results to plot (run the 'scaling' workload)"
    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False)
    for ax, (part, engines) in zip(axes[0], sorted(curves.items(), key=lambda kv: kv[0] != "forward")):
        for engine, points in engines.items():
            points.sort()
            ax.loglog([p[0] for p in points], [p[1] for p in points], "o-", label=engine)
        ns = sorted({p[0] for pts in engines.values() for p in pts})
        ref = min(p[1] for pts in engines.values() for p in pts if p[0] == ns[0])
        ax.loglog(ns, [ref * n / ns[0] for n in ns], "k--", lw=0.8, label="linear")
        ax.set(xlabel="graph size (nodes)", ylabel="seconds", title=f"chain {part}: time vs graph size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
