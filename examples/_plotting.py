"""Optional plots for the examples: matplotlib when it is installed, to
files only (never a window), and a note instead when it is not."""


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or None (with a note)."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path)
    print(f"saved {path}")
