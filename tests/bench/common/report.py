"""Printing benchmark results: one `name: value` line each, aligned, plus
ratio helpers that never divide by zero."""


def ratio(a, b):
    if not b:
        return float("nan")
    return a / b


def line(name, value, width=44):
    print("%-*s %s" % (width, name + ":", value), flush=True)


def header(title):
    print("\n== %s" % title, flush=True)


def percentile(values, p):
    """The p-th percentile (0..100) of values by nearest rank; None if empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ms(seconds):
    return "n/a" if seconds is None else "%.1f ms" % (seconds * 1000.0)
