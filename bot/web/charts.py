"""Server-rendered SVG charts for the staff overview and the open-data page: no JavaScript, no
external asset, the same bytes for the same data.

Three kinds, each a function taking `(label, value)` pairs and returning the SVG as a string
(a `markupsafe.Markup`, so a Jinja template prints it as is):

- `bar_chart`: vertical bars, one per period (months, quarters);
- `hbar_chart`: horizontal bars, one per area (a row each, so long commune names stay readable and
  any number of rows fits a phone: the figure grows in height, not in width);
- `line_chart`: a simple line over periods.

A value of `None` is a suppressed cell (too few reports to publish): it is drawn as a marker with
the word `suppressed_text`, never as a zero. An empty series gives a small "no data" figure.

Every figure has `role="img"`, an `aria-label`, a `<title>` and a `<desc>` (a sentence with the
number of values, the largest and the smallest), and each bar or point its own `<title>` with the
exact value. The page prints a table of the same values under each chart; the chart is the
picture, the table the record.

Sizes: the `viewBox` is 360 units wide (a phone's CSS width) and the SVG has `width="100%"`
(an attribute, not a `style`: the Content-Security-Policy allows no inline style) and no height,
so it keeps the viewBox's proportions; on a 360 px screen one unit is about one pixel and the
12-13 unit text is 12-13 px. The page's CSS caps `svg.chart` with a `max-width` on wide
screens. With many periods the axis labels turn vertical and then only every k-th is printed
(the bars all stay, each with its title), so labels never overlap.

Every label and number passes through `_esc` (XML escaping, control characters removed), so a
commune name or a title with `<`, `&` or quotes cannot break the markup or inject any.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence

from markupsafe import Markup

Value = float | int | None
Items = Sequence[tuple[str, Value]]

WIDTH = 360
FONT = 13  # axis and row labels
SMALL = 12  # values and ticks
CHAR = 0.58  # average glyph width as a share of the font size (sans-serif, Vietnamese)
BAR = "#1f6f8b"
NEG = "#b5472f"
LINE = "#1f6f8b"
TEXT = "#1b1b1b"
MUTED = "#555555"
GRID = "#d6d6d6"
TARGET = "#8a4b00"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _esc(text: object) -> str:
    """Text safe in XML content and in double-quoted attributes."""
    s = _CONTROL.sub("", str(text))
    return (
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def format_number(value: float | int) -> str:
    """Vietnamese number style: `.` between thousands, `,` before decimals (at most two)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    rounded = round(float(value), 2)
    if rounded == int(rounded):
        whole, frac = f"{int(rounded):,}", ""
    else:
        whole, frac = f"{rounded:,.2f}".rstrip("0").split(".")
    whole = whole.replace(",", ".")
    return f"{whole},{frac}" if frac else whole


def _num(x: float) -> str:
    """A coordinate, rounded so the output is short and the same on every machine."""
    r = round(x, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


def _text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR


def _truncate(text: str, size: float, room: float) -> str:
    """`text` cut with an ellipsis so it fits `room` units at `size`."""
    most = max(1, int(room / (size * CHAR)))
    return text if len(text) <= most else text[: max(1, most - 1)].rstrip() + "…"


def _clean(items: Items) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    for label, value in items:
        if value is not None:
            value = float(value)
            if not math.isfinite(value):
                value = None
        out.append((_CONTROL.sub("", str(label)), value))
    return out


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi], zero included."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks: list[float] = []
    t = start
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _chart_id(kind: str, title: str, items: list[tuple[str, float | None]]) -> str:
    """An id for aria-labelledby, unique per chart content and the same on every run."""
    h = hashlib.sha1(repr((kind, title, items)).encode("utf-8")).hexdigest()[:10]
    return f"ch-{kind}-{h}"


def _describe(
    items: list[tuple[str, float | None]],
    unit: str,
    fmt: Callable[[float], str],
    suppressed_text: str,
) -> str:
    known = [(label, v) for label, v in items if v is not None]
    parts = [f"{len(items)} giá trị"]
    if known:
        top = max(known, key=lambda p: p[1])
        low = min(known, key=lambda p: p[1])
        u = f" {unit}" if unit else ""
        parts.append(f"lớn nhất {fmt(top[1])}{u} ({top[0]})")
        if len(known) > 1:
            parts.append(f"nhỏ nhất {fmt(low[1])}{u} ({low[0]})")
    hidden = len(items) - len(known)
    if hidden:
        parts.append(f"{hidden} ô {suppressed_text}")
    return "; ".join(parts) + "."


def _open(
    kind: str,
    title: str,
    desc: str,
    height: float,
    items: list[tuple[str, float | None]],
) -> list[str]:
    cid = _chart_id(kind, title, items)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_num(height)}" '
        f'role="img" aria-label="{_esc(title)}" aria-labelledby="{cid}-t {cid}-d" '
        f'class="chart chart-{kind}" '
        'width="100%" '
        f'font-family="system-ui, -apple-system, &quot;Segoe UI&quot;, Roboto, sans-serif">',
        f'<title id="{cid}-t">{_esc(title)}</title>',
        f'<desc id="{cid}-d">{_esc(desc)}</desc>',
    ]


def _empty(kind: str, title: str, empty_text: str) -> Markup:
    height = 80
    parts = _open(kind, title, empty_text, height, [])
    parts.append(
        f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{height - 1}" fill="#f6f6f6" '
        f'stroke="{GRID}"/>'
    )
    parts.append(
        f'<text x="{WIDTH // 2}" y="{height // 2 + 5}" text-anchor="middle" font-size="{FONT + 1}" '
        f'fill="{MUTED}" class="no-data">{_esc(empty_text)}</text>'
    )
    parts.append("</svg>")
    return Markup("\n".join(parts))


def _value_axis(
    ticks: list[float], y_of: Callable[[float], float], left: float, right: float, fmt
) -> list[str]:
    out = []
    for t in ticks:
        y = y_of(t)
        out.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(right)}" y2="{_num(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_num(left - 4)}" y="{_num(y + 4)}" text-anchor="end" '
            f'font-size="{SMALL}" fill="{MUTED}">{_esc(fmt(t))}</text>'
        )
    return out


class _Columns:
    """The shared geometry of the two charts over periods (bars and line): a value axis on the
    left, one slot per item, labels under the slots (vertical and thinned out when crowded)."""

    PLOT_H = 170

    def __init__(self, items, fmt, target: float | None):
        self.items = items
        values = [v for _, v in items if v is not None]
        if target is not None:
            values.append(target)
        self.ticks = nice_ticks(min(values, default=0.0), max(values, default=0.0))
        self.lo, self.hi = self.ticks[0], self.ticks[-1]
        tick_w = max(_text_width(fmt(t), SMALL) for t in self.ticks)
        self.left = math.ceil(tick_w + 10)
        self.right = WIDTH - 8
        self.top = 22
        n = len(items)
        self.slot = (self.right - self.left) / n
        longest = max(len(label) for label, _ in items)
        flat_w = longest * FONT * CHAR
        self.vertical = flat_w > self.slot - 4
        if self.vertical:
            self.max_chars = min(longest, 16)
            self.step = max(1, math.ceil(FONT * 1.3 / self.slot))
            label_h = self.max_chars * FONT * CHAR + 10
        else:
            self.max_chars = longest
            self.step = 1
            label_h = FONT + 10
        self.bottom = self.top + self.PLOT_H
        self.height = self.bottom + label_h + 4

    def y(self, v: float) -> float:
        return self.bottom - (v - self.lo) / (self.hi - self.lo) * self.PLOT_H

    def cx(self, i: int) -> float:
        return self.left + self.slot * (i + 0.5)

    def axis(self, fmt) -> list[str]:
        out = _value_axis(self.ticks, self.y, self.left, self.right, fmt)
        zero = self.y(0.0)
        out.append(
            f'<line x1="{_num(self.left)}" y1="{_num(zero)}" x2="{_num(self.right)}" '
            f'y2="{_num(zero)}" stroke="{TEXT}" stroke-width="1"/>'
        )
        return out

    def labels(self) -> list[str]:
        out = []
        for i, (label, _) in enumerate(self.items):
            if i % self.step:
                continue
            shown = _esc(_truncate(label, FONT, self.max_chars * FONT * CHAR))
            x = self.cx(i)
            if self.vertical:
                y = self.bottom + 8
                out.append(
                    f'<text x="{_num(x + FONT * 0.35)}" y="{_num(y)}" text-anchor="end" '
                    f'font-size="{FONT}" fill="{TEXT}" class="axis-label" '
                    f'transform="rotate(-90 {_num(x + FONT * 0.35)} {_num(y)})">{shown}</text>'
                )
            else:
                out.append(
                    f'<text x="{_num(x)}" y="{_num(self.bottom + FONT + 4)}" '
                    f'text-anchor="middle" font-size="{FONT}" fill="{TEXT}" '
                    f'class="axis-label">{shown}</text>'
                )
        return out

    def target(self, target: float | None, target_label: str, fmt) -> list[str]:
        if target is None:
            return []
        y = self.y(target)
        text = target_label or fmt(target)
        return [
            f'<line x1="{_num(self.left)}" y1="{_num(y)}" x2="{_num(self.right)}" '
            f'y2="{_num(y)}" stroke="{TARGET}" stroke-width="2" stroke-dasharray="6 4" '
            f'class="target"/>',
            f'<text x="{_num(self.right)}" y="{_num(y - 5)}" text-anchor="end" '
            f'font-size="{SMALL}" fill="{TARGET}" class="target-label">{_esc(text)}</text>',
        ]


def _tip(label: str, value: float | None, unit: str, fmt, suppressed_text: str) -> str:
    if value is None:
        return _esc(f"{label}: {suppressed_text}")
    return _esc(f"{label}: {fmt(value)}" + (f" {unit}" if unit else ""))


def _suppressed_mark(x: float, y: float, text: str, room: float, tip: str) -> str:
    """A suppressed cell: a hollow grey circle on the zero line and, when there is room, the
    word above it. Never a bar, never a zero."""
    word = ""
    if _text_width(text, SMALL) <= room:
        word = (
            f'<text x="{_num(x)}" y="{_num(y - 8)}" text-anchor="middle" font-size="{SMALL}" '
            f'fill="{MUTED}">{_esc(text)}</text>'
        )
    return (
        f'<g class="suppressed"><title>{tip}</title>'
        f'<circle cx="{_num(x)}" cy="{_num(y)}" r="4" fill="#ffffff" stroke="{MUTED}" '
        f'stroke-width="1.5"/>{word}</g>'
    )


def bar_chart(
    items: Items,
    *,
    title: str,
    desc: str = "",
    unit: str = "",
    fmt: Callable[[float], str] = format_number,
    target: float | None = None,
    target_label: str = "",
    empty_text: str = "Không có dữ liệu",
    suppressed_text: str = "ẩn",
) -> Markup:
    """Vertical bars, one per item (periods, in the order given)."""
    data = _clean(items)
    if not data:
        return _empty("bar", title, empty_text)
    g = _Columns(data, fmt, target)
    parts = _open("bar", title, desc or _describe(data, unit, fmt, suppressed_text), g.height, data)
    parts += g.axis(fmt)
    zero = g.y(0.0)
    bar_w = max(1.0, min(g.slot * 0.72, 48))
    show_values = all(_text_width(fmt(v), SMALL) <= g.slot - 2 for _, v in data if v is not None)
    for i, (label, v) in enumerate(data):
        x = g.cx(i)
        tip = _tip(label, v, unit, fmt, suppressed_text)
        if v is None:
            parts.append(_suppressed_mark(x, zero, suppressed_text, g.slot - 2, tip))
            continue
        y = g.y(v)
        top, h = min(y, zero), abs(zero - y)
        colour = NEG if v < 0 else BAR
        parts.append(
            f'<rect x="{_num(x - bar_w / 2)}" y="{_num(top)}" width="{_num(bar_w)}" '
            f'height="{_num(max(h, 0.0))}" fill="{colour}" class="bar"><title>{tip}</title></rect>'
        )
        if show_values:
            ty = top - 4 if v >= 0 else top + h + SMALL + 1
            parts.append(
                f'<text x="{_num(x)}" y="{_num(ty)}" text-anchor="middle" font-size="{SMALL}" '
                f'fill="{TEXT}" class="value">{_esc(fmt(v))}</text>'
            )
    parts += g.target(target, target_label, fmt)
    parts += g.labels()
    parts.append("</svg>")
    return Markup("\n".join(parts))


def line_chart(
    items: Items,
    *,
    title: str,
    desc: str = "",
    unit: str = "",
    fmt: Callable[[float], str] = format_number,
    target: float | None = None,
    target_label: str = "",
    empty_text: str = "Không có dữ liệu",
    suppressed_text: str = "ẩn",
) -> Markup:
    """A line over the items (periods, in the order given); a suppressed value breaks it."""
    data = _clean(items)
    if not data:
        return _empty("line", title, empty_text)
    g = _Columns(data, fmt, target)
    parts = _open(
        "line", title, desc or _describe(data, unit, fmt, suppressed_text), g.height, data
    )
    parts += g.axis(fmt)
    parts += g.target(target, target_label, fmt)
    run: list[str] = []
    runs: list[list[str]] = []
    for i, (_, v) in enumerate(data):
        if v is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(f"{_num(g.cx(i))},{_num(g.y(v))}")
    if run:
        runs.append(run)
    for r in runs:
        if len(r) > 1:
            parts.append(
                f'<polyline points="{" ".join(r)}" fill="none" stroke="{LINE}" '
                f'stroke-width="2.5" stroke-linejoin="round" class="line"/>'
            )
    zero = g.y(0.0)
    for i, (label, v) in enumerate(data):
        tip = _tip(label, v, unit, fmt, suppressed_text)
        if v is None:
            parts.append(_suppressed_mark(g.cx(i), zero, suppressed_text, g.slot - 2, tip))
            continue
        colour = NEG if v < 0 else LINE
        parts.append(
            f'<circle cx="{_num(g.cx(i))}" cy="{_num(g.y(v))}" r="3.5" fill="{colour}" '
            f'class="point"><title>{tip}</title></circle>'
        )
    parts += g.labels()
    parts.append("</svg>")
    return Markup("\n".join(parts))


def hbar_chart(
    items: Items,
    *,
    title: str,
    desc: str = "",
    unit: str = "",
    fmt: Callable[[float], str] = format_number,
    target: float | None = None,
    target_label: str = "",
    empty_text: str = "Không có dữ liệu",
    suppressed_text: str = "ẩn",
) -> Markup:
    """Horizontal bars, one row per item (areas): the label on the left (cut with an ellipsis
    past 40% of the width, the full name in the row's title), the value after the bar."""
    data = _clean(items)
    if not data:
        return _empty("hbar", title, empty_text)
    row = 26
    top = 8
    label_room = WIDTH * 0.40
    longest = max(_text_width(label, FONT) for label, _ in data)
    label_w = min(longest, label_room) + 8
    values = [v for _, v in data if v is not None]
    if target is not None:
        values.append(target)
    lo, hi = min(min(values, default=0.0), 0.0), max(max(values, default=0.0), 0.0)
    if hi == lo:
        hi = lo + 1.0
    texts = [fmt(v) for v in values] + [suppressed_text]
    value_w = max(_text_width(t, SMALL) for t in texts) + 6
    left = label_w
    neg_room = value_w if lo < 0 else 0.0
    plot_l = left + neg_room
    plot_r = WIDTH - value_w - 4
    span = plot_r - plot_l

    def x_of(v: float) -> float:
        return plot_l + (v - lo) / (hi - lo) * span

    height = top + row * len(data) + (22 if target is not None else 6)
    parts = _open("hbar", title, desc or _describe(data, unit, fmt, suppressed_text), height, data)
    zero = x_of(0.0)
    parts.append(
        f'<line x1="{_num(zero)}" y1="{top}" x2="{_num(zero)}" y2="{_num(top + row * len(data))}" '
        f'stroke="{TEXT}" stroke-width="1"/>'
    )
    for i, (label, v) in enumerate(data):
        y = top + row * i
        mid = y + row / 2
        tip = _tip(label, v, unit, fmt, suppressed_text)
        shown = _esc(_truncate(label, FONT, label_room))
        parts.append(f'<g class="row"><title>{tip}</title>')
        parts.append(
            f'<text x="{_num(left - 8)}" y="{_num(mid + 4.5)}" text-anchor="end" '
            f'font-size="{FONT}" fill="{TEXT}" class="axis-label">{shown}</text>'
        )
        if v is None:
            parts.append(
                f'<circle cx="{_num(zero + 6)}" cy="{_num(mid)}" r="4" fill="#ffffff" '
                f'stroke="{MUTED}" stroke-width="1.5"/>'
                f'<text x="{_num(zero + 14)}" y="{_num(mid + 4)}" font-size="{SMALL}" '
                f'fill="{MUTED}" class="suppressed">{_esc(suppressed_text)}</text>'
            )
        else:
            x = x_of(v)
            bx, bw = min(x, zero), abs(x - zero)
            colour = NEG if v < 0 else BAR
            parts.append(
                f'<rect x="{_num(bx)}" y="{_num(y + 5)}" width="{_num(bw)}" '
                f'height="{row - 10}" fill="{colour}" class="bar"/>'
            )
            if v >= 0:
                vx, anchor = x + 4, "start"
            else:
                vx, anchor = x - 4, "end"
            parts.append(
                f'<text x="{_num(vx)}" y="{_num(mid + 4)}" text-anchor="{anchor}" '
                f'font-size="{SMALL}" fill="{TEXT}" class="value">{_esc(fmt(v))}</text>'
            )
        parts.append("</g>")
    if target is not None:
        x = x_of(target)
        bottom = top + row * len(data)
        parts.append(
            f'<line x1="{_num(x)}" y1="{top}" x2="{_num(x)}" y2="{_num(bottom)}" '
            f'stroke="{TARGET}" stroke-width="2" stroke-dasharray="6 4" class="target"/>'
        )
        text = target_label or fmt(target)
        anchor = "end" if x > WIDTH * 0.6 else "start"
        parts.append(
            f'<text x="{_num(x)}" y="{_num(bottom + 15)}" text-anchor="{anchor}" '
            f'font-size="{SMALL}" fill="{TARGET}" class="target-label">{_esc(text)}</text>'
        )
    parts.append("</svg>")
    return Markup("\n".join(parts))
