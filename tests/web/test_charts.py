"""The SVG charts: valid XML, every label escaped, accessible, readable with many categories,
an explicit "no data" figure, negative and zero values, suppressed cells never drawn as zero,
and the same bytes for the same data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from bot.web import charts
from bot.web.charts import bar_chart, format_number, hbar_chart, line_chart, nice_ticks

NS = "{http://www.w3.org/2000/svg}"
KINDS = [bar_chart, hbar_chart, line_chart]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


@pytest.mark.parametrize("chart", KINDS)
def test_valid_svg_with_title_desc_and_role(chart):
    svg = chart([("2026-01", 3), ("2026-02", 7)], title="Nhà ở", unit="hộ")
    assert isinstance(svg, Markup) and isinstance(svg, str)
    root = parse(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Nhà ở"
    vb = [float(x) for x in root.get("viewBox").split()]
    assert vb[:3] == [0, 0, 360] and vb[3] > 0
    assert root.get("width") == "100%" and root.get("height") is None
    assert root.get("style") is None, "the CSP allows no inline style"
    assert "chart" in root.get("class").split()
    assert root.find(f"{NS}title").text == "Nhà ở"
    desc = root.find(f"{NS}desc").text
    assert "2 giá trị" in desc and "7 hộ" in desc
    ids = root.get("aria-labelledby").split()
    assert ids == [root.find(f"{NS}title").get("id"), root.find(f"{NS}desc").get("id")]
    assert "<script" not in svg and "javascript:" not in svg.lower()
    assert not re.search(r"\son\w+=", svg), "no event handler attributes"


@pytest.mark.parametrize("chart", KINDS)
def test_labels_and_title_are_escaped(chart):
    evil = "<script>alert(\"x\")</script> & 'q' \x00\x07"
    svg = chart([(evil, 1), ("b&c", 2)], title=evil, desc=evil, unit="<u>")
    root = parse(svg)  # would raise on a broken escape or a control character
    assert "<script" not in svg
    assert root.find(f"{NS}script") is None
    assert "&lt;script&gt;" in svg
    assert root.find(f"{NS}title").text.startswith("<script>alert(\"x\")</script> & 'q'")
    # the per-item tooltips carry the full label, unescaped once parsed
    tips = ["".join(t.itertext()) for t in root.iter(f"{NS}title")]
    assert any(t.startswith("b&c") for t in tips)


@pytest.mark.parametrize("chart", KINDS)
def test_empty_data_gives_a_no_data_figure(chart):
    svg = chart([], title="Trống")
    root = parse(svg)
    assert root.get("role") == "img"
    assert "Không có dữ liệu" in texts(root)
    assert root.find(f".//{NS}rect[@class='bar']") is None
    custom = parse(chart([], title="T", empty_text="No data"))
    assert "No data" in texts(custom)


def bar_rects(root):
    return [r for r in root.iter(f"{NS}rect") if r.get("class") == "bar"]


@pytest.mark.parametrize("chart", [bar_chart, hbar_chart])
def test_negative_zero_and_positive_values(chart):
    root = parse(chart([("a", -5), ("b", 0), ("c", 10)], title="T"))
    rects = bar_rects(root)
    assert len(rects) == 3
    for r in rects:
        assert float(r.get("width")) >= 0 and float(r.get("height")) >= 0
    neg, zero, pos = rects
    assert neg.get("fill") == charts.NEG and pos.get("fill") == charts.BAR
    size = "height" if chart is bar_chart else "width"
    assert float(zero.get(size)) == 0
    assert float(pos.get(size)) == pytest.approx(2 * float(neg.get(size)), rel=0.05)
    assert "-5" in texts(root) and "10" in texts(root) and "0" in texts(root)


@pytest.mark.parametrize("chart", KINDS)
def test_all_zero_and_single_values_do_not_divide_by_zero(chart):
    for data in ([("a", 0), ("b", 0)], [("a", 4)], [("a", -4)], [("a", 0.001)]):
        root = parse(chart(data, title="T"))
        for el in list(root.iter())[1:]:  # the shapes, not the <svg> itself
            for key in ("x", "y", "width", "height", "cx", "cy", "x1", "y1", "x2", "y2"):
                if el.get(key) is not None:
                    assert re.fullmatch(r"-?\d+(\.\d)?", el.get(key)), (key, el.get(key))


@pytest.mark.parametrize("chart", KINDS)
def test_suppressed_values_are_marked_never_zero(chart):
    root = parse(chart([("Xã A", 12), ("Xã B", None)], title="T"))
    marks = [g for g in root.iter() if g.get("class") == "suppressed"]
    assert marks, "a suppressed cell is drawn as a marker"
    assert "ẩn" in "".join(root.itertext())
    # only the known value has a bar or point
    drawn = [e for e in root.iter() if e.get("class") in ("bar", "point")]
    assert len(drawn) == 1
    assert "1 ô ẩn" in root.find(f"{NS}desc").text


def test_line_breaks_at_a_suppressed_value():
    root = parse(line_chart([("1", 1), ("2", 2), ("3", None), ("4", 3), ("5", 4)], title="T"))
    lines = [p for p in root.iter(f"{NS}polyline")]
    assert len(lines) == 2
    assert all(len(p.get("points").split()) == 2 for p in lines)


@pytest.mark.parametrize("chart", [bar_chart, line_chart])
def test_many_periods_stay_readable(chart):
    items = [(f"{2020 + i // 12}-{i % 12 + 1:02d}", i * 3) for i in range(120)]
    root = parse(chart(items, title="Mười năm"))
    assert root.get("viewBox").split()[2] == "360", "the width stays a phone's"
    labels = [t for t in root.iter(f"{NS}text") if t.get("class") == "axis-label"]
    assert labels and all(float(t.get("font-size")) >= 12 for t in labels)
    assert all("rotate(-90" in t.get("transform", "") for t in labels)
    # vertical labels are at least a line height apart: no overlap
    xs = sorted(float(t.get("x")) for t in labels)
    gaps = [b - a for a, b in zip(xs, xs[1:], strict=False)]
    assert min(gaps) >= 13
    # every item still has its bar or point, with its exact value in a title
    drawn = [e for e in root.iter() if e.get("class") in ("bar", "point")]
    assert len(drawn) == 120
    assert drawn[-1].find(f"{NS}title").text == "2029-12: 357"
    # the values over the bars are left out when they would not fit
    assert not [t for t in root.iter(f"{NS}text") if t.get("class") == "value"]


def test_few_periods_have_flat_labels_and_values():
    root = parse(bar_chart([("Q1", 3), ("Q2", 5)], title="T"))
    labels = [t for t in root.iter(f"{NS}text") if t.get("class") == "axis-label"]
    assert [t.text for t in labels] == ["Q1", "Q2"]
    assert not any(t.get("transform") for t in labels)
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "value"] == ["3", "5"]


def test_many_areas_grow_down_not_sideways_and_long_names_are_cut():
    long = "Xã có một cái tên rất rất dài ở miền núi phía tây tỉnh"
    items = [(f"Xã số {i}", i) for i in range(60)] + [(long, 5)]
    root = parse(hbar_chart(items, title="Theo xã"))
    _, _, w, h = (float(x) for x in root.get("viewBox").split())
    assert w == 360 and h >= 61 * 24
    labels = [t for t in root.iter(f"{NS}text") if t.get("class") == "axis-label"]
    assert len(labels) == 61
    assert all(float(t.get("font-size")) >= 13 for t in labels)
    ys = [float(t.get("y")) for t in labels]
    assert min(b - a for a, b in zip(ys, ys[1:], strict=False)) >= 20
    cut = labels[-1].text
    assert cut.endswith("…") and len(cut) < len(long)
    # the full name is in the row's title
    assert any(long in "".join(t.itertext()) for t in root.iter(f"{NS}title"))
    # every shape stays inside the viewBox
    for r in root.iter(f"{NS}rect"):
        assert float(r.get("x")) >= 0 and float(r.get("x")) + float(r.get("width")) <= w


@pytest.mark.parametrize("chart", KINDS)
def test_target_line(chart):
    root = parse(chart([("a", 10), ("b", 40)], title="T", target=30, target_label="Mục tiêu 30%"))
    assert [e for e in root.iter() if e.get("class") == "target"]
    assert "Mục tiêu 30%" in texts(root)


@pytest.mark.parametrize("chart", KINDS)
def test_deterministic(chart):
    items = [("b", 2.5), ("a", None), ("c", -1)]
    assert chart(items, title="T") == chart(list(items), title="T")
    assert chart(items, title="T") != chart(items, title="U")
    # two different charts on one page get different ids
    a = parse(chart(items, title="T")).get("aria-labelledby")
    b = parse(chart(items[:2], title="T")).get("aria-labelledby")
    assert a != b


def test_format_number_vietnamese():
    assert format_number(1234567) == "1.234.567"
    assert format_number(12.5) == "12,5"
    assert format_number(0.125) == "0,13" or format_number(0.125) == "0,12"
    assert format_number(-3.0) == "-3"
    assert format_number(float("nan")) == "—"


def test_nice_ticks_cover_the_range():
    for lo, hi in [(0, 7), (-5, 10), (0, 0), (0, 1234), (-0.3, 0), (0, 0.001)]:
        ticks = nice_ticks(lo, hi)
        assert ticks[0] <= min(lo, 0) and ticks[-1] >= max(hi, 0)
        assert 0 in ticks
        assert 2 <= len(ticks) <= 12


def test_nan_and_infinite_are_treated_as_missing():
    root = parse(bar_chart([("a", float("nan")), ("b", float("inf")), ("c", 1)], title="T"))
    assert len(bar_rects(root)) == 1
