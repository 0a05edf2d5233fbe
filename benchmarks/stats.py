"""What every benchmark shares: percentiles of timings and a free loopback port."""

from __future__ import annotations

import socket


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_section(doc, begin: str, end: str, block: str, heading: str) -> None:
    """Put `block` (which starts with `begin` and ends with `end`) in place of the same markers'
    section of `doc` (docs/benchmarks.md), or append it under `heading` when it is missing."""
    text = doc.read_text(encoding="utf-8") if doc.is_file() else "# Benchmarks\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + block + "\n"
    doc.write_text(text, encoding="utf-8")
