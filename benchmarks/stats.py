"""The statistics the benchmarks report: median, min, max and ratios.

Written out (not `statistics.median`) so the tests can pin the exact rules:
an even count takes the mean of the middle two; a ratio with a missing or
zero denominator is None (printed "-"), never an exception.
"""


def median(samples):
    xs = sorted(samples)
    if not xs:
        raise ValueError("median of no samples")
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def summarize(samples):
    """{'median', 'min', 'max', 'n'} of a non-empty list of numbers."""
    return {"median": median(samples), "min": min(samples), "max": max(samples), "n": len(samples)}


def ratio(a, b):
    """a / b, or None where either is missing or b is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def format_ratio(r):
    """'35x', '1.0x', '0.031x'; '-' for None."""
    if r is None:
        return "-"
    if r >= 100:
        return f"{r:,.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    if r >= 0.1:
        return f"{r:.2f}x"
    return f"{r:.2g}x"


def format_number(x):
    """Three significant figures, thousands separated: 1,234 / 12.3 / 0.0123."""
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"
