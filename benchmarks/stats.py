"""What a row's samples say: their median and spread, and when not to trust them.

Every timed sample is a pair, process CPU time and wall time over the same
region. On a shared machine wall time also counts the time other processes
held the core (5-13x the CPU time has been seen), so ratios use CPU medians,
and a row whose wall and CPU medians disagree, or whose samples are widely
spread, gets a warning instead of a silent number.
"""
import statistics

WALL_VS_CPU = 0.20      # |wall / CPU - 1| above this: others used the core, or the code waited
IQR_OF_MEDIAN = 0.20    # interquartile range above this fraction of the median: noisy
MAX_OVER_MIN = 1.5      # the slowest sample this many times the fastest: noisy (few samples have no IQR)


def quartiles(xs):
    """(first, third) quartile; both the one value for a single sample."""
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def summary(xs, prefix=""):
    """median, min, max and iqr of xs, keyed with `prefix`."""
    q1, q3 = quartiles(xs)
    return {f"{prefix}median": statistics.median(xs), f"{prefix}min": min(xs), f"{prefix}max": max(xs),
            f"{prefix}iqr": q3 - q1}


def warnings(cpu, wall=None):
    """Short reasons to distrust a row (empty when it is clean): wall against
    CPU for timed rows, and the spread of the CPU samples."""
    out = []
    c = statistics.median(cpu)
    if wall:
        w = statistics.median(wall)
        if c > 0 and abs(w / c - 1) > WALL_VS_CPU:
            out.append(f"wall {w / c:.2f}x CPU")
        elif c <= 0 < w:                 # below the CPU clock's resolution: nothing to compare
            out.append("CPU time 0")
    if c > 0:
        q1, q3 = quartiles(cpu)
        if (q3 - q1) / c > IQR_OF_MEDIAN:
            out.append(f"IQR {100 * (q3 - q1) / c:.0f}% of median")
    lo, hi = min(cpu), max(cpu)
    if lo > 0 and hi / lo > MAX_OVER_MIN:
        out.append(f"max/min {hi / lo:.2f}")
    return out
