"""Aggregation and suppression: villages roll up into their commune, a cell of fewer than k
reports is suppressed (never zero), the province total sums only published cells, so no
suppressed value can be recovered by difference; the online-meetings share."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.areas import areas_of
from bot.content import load_content
from bot.flows.forms.schema import load_lists
from bot.opendata import aggregate
from bot.opendata.aggregate import ALL_MEETINGS, ONLINE, build, period_key
from bot.storage.repositories.opendata import RawCell

ROOT = Path(__file__).resolve().parents[2]
CONTENT = load_content(ROOT / "content")
TREE = areas_of(CONTENT)
INDICATORS = aggregate.indicators_of(load_lists(ROOT / "content"))


def cells(ds, **kw):
    return {(c.indicator.code, c.area_code, c.period): c for c in ds.select(**kw)}


def test_villages_roll_up_and_small_cells_are_suppressed():
    raw = [
        RawCell("p1_nha_o", "qng.ba_dong", "2026-11", 10, 2),
        RawCell("p1_nha_o", "qng.ba_dong.lang_teng", "2026-11", 5, 1),  # village -> commune
        RawCell("p1_nha_o", "qng.ba_dinh", "2026-11", 7, 2),  # 2 < 3: suppressed
        RawCell("p1_nha_o", "qng.ba_vi", "2026-11", 0, 4),  # a real zero, published
    ]
    ds = build(raw, TREE, INDICATORS, 3, None)
    got = cells(ds)
    assert "qng.ba_dong.lang_teng" not in {c.area_code for c in ds.cells}, "no village level"
    dong = got[("p1_nha_o", "qng.ba_dong", "2026-11")]
    assert (dong.value, dong.reports, dong.suppressed) == (15, 3, False)
    assert dong.area_name == "xã Ba Động" and dong.area_level == "commune"
    dinh = got[("p1_nha_o", "qng.ba_dinh", "2026-11")]
    assert dinh.suppressed and dinh.value is None and dinh.reports is None
    vi = got[("p1_nha_o", "qng.ba_vi", "2026-11")]
    assert vi.value == 0 and not vi.suppressed
    total = got[("p1_nha_o", "qng", "2026-11")]
    assert total.area_level == "province"
    assert total.value == 15 and total.reports == 7 and total.suppressed_cells == 1
    # the difference attack gives 0, not the suppressed 7
    communes = sum(c.value for c in ds.select(level="commune") if c.value is not None)
    assert total.value - communes == 0


def test_province_own_reports_only_in_the_total_and_suppressed_too():
    raw = [
        RawCell("p4_khoi_cong", "qng", "2026", 4, 3),  # the province's own: 3 reports
        RawCell("p4_khoi_cong", "qng.ba_dong", "2026", 2, 3),
        RawCell("p4_khoi_cong", "qng", "2025", 9, 1),  # alone and small: nothing published
        RawCell("p4_khoi_cong", "qng.khong_co_xa_nay", "2025", 5, 1),  # not in the tree
        RawCell("p99_bo", "qng.ba_dong", "2026", 1, 5),  # indicator no longer listed
    ]
    ds = build(raw, TREE, INDICATORS, 3, None)
    got = cells(ds)
    assert got[("p4_khoi_cong", "qng", "2026")].value == 6
    assert [c.area_code for c in ds.select(period="2026", level="commune")] == ["qng.ba_dong"]
    t25 = got[("p4_khoi_cong", "qng", "2025")]
    assert t25.suppressed and t25.suppressed_cells == 1  # both (own + unknown) fold into one
    assert not [c for c in ds.cells if c.indicator.code == "p99_bo"]


def test_k_of_one_publishes_everything():
    ds = build([RawCell("p1_nha_o", "qng.ba_dong", "2026-11", 1, 1)], TREE, INDICATORS, 1, None)
    assert not any(c.suppressed for c in ds.cells)


communes = [a.code for a in TREE.areas if a.level == "commune"][:6]
raw_cell = st.builds(
    RawCell,
    st.sampled_from(["p1_nha_o", "p1_nuoc"]),
    st.sampled_from(communes + ["qng", communes[0] + ".lang_x"]),
    st.sampled_from(["2026-10", "2026-11", "2026-Q4"]),
    st.integers(0, 50).map(float),
    st.integers(1, 6),
)


@given(st.lists(raw_cell, max_size=25), st.integers(1, 5), st.data())
def test_published_numbers_do_not_depend_on_suppressed_values(raw, k, data):
    """The strongest form of "no difference reveals a suppressed cell": change the values in
    the suppressed cells however you like, and every published number stays the same."""
    ds = build(raw, TREE, INDICATORS, k, None)
    counts: dict = {}
    for r in raw:
        com = TREE.path(r.area_code.rsplit(".lang_x", 1)[0])
        key = (r.indicator, next((a.code for a in com if a.level == "commune"), None), r.period)
        counts[key] = counts.get(key, 0) + r.reports
    small = {key for key, n in counts.items() if n < k}
    changed = []
    for r in raw:
        com = TREE.path(r.area_code.rsplit(".lang_x", 1)[0])
        key = (r.indicator, next((a.code for a in com if a.level == "commune"), None), r.period)
        if key in small:
            r = RawCell(
                r.indicator, r.area_code, r.period, data.draw(st.integers(0, 999)), r.reports
            )
        changed.append(r)
    again = build(changed, TREE, INDICATORS, k, None)
    assert [(c.area_code, c.period, c.value, c.reports) for c in ds.cells] == [
        (c.area_code, c.period, c.value, c.reports) for c in again.cells
    ]
    for c in ds.cells:
        if c.area_level == "commune":
            assert c.suppressed == ((c.indicator.code, c.area_code, c.period) in small)
            if c.reports is not None:
                assert c.reports >= k


def test_online_share_from_the_two_meeting_indicators():
    raw = [
        RawCell(ONLINE, "qng.ba_dong", "2026-Q4", 4, 3),
        RawCell(ALL_MEETINGS, "qng.ba_dong", "2026-Q4", 10, 3),
        RawCell(ONLINE, "qng.ba_dinh", "2026-Q4", 1, 1),  # suppressed: ba_dinh left out
        RawCell(ALL_MEETINGS, "qng.ba_dinh", "2026-Q4", 20, 4),
        RawCell(ONLINE, "qng.ba_vi", "2026-Q4", 0, 3),
        RawCell(ALL_MEETINGS, "qng.ba_vi", "2026-Q4", 0, 3),  # total 0: no share
    ]
    ds = build(raw, TREE, INDICATORS, 3, None)
    assert ds.online_available
    shares = {(s.area_code, s.period): s for s in ds.shares}
    assert set(shares) == {("qng.ba_dong", "2026-Q4"), ("qng", "2026-Q4")}
    dong = shares[("qng.ba_dong", "2026-Q4")]
    assert dong.share == 0.4 and dong.meets_target
    province = shares[("qng", "2026-Q4")]
    assert (province.online, province.total) == (4, 10)  # ba_dinh's 20 not counted
    low = build(
        [
            RawCell(ONLINE, "qng.ba_dong", "1", 1, 3),
            RawCell(ALL_MEETINGS, "qng.ba_dong", "1", 5, 3),
        ],
        TREE,
        INDICATORS,
        3,
        None,
    )
    assert not low.shares[0].meets_target  # 20% < 30%


def test_online_share_unavailable_without_the_indicators():
    others = [i for i in INDICATORS if i.code not in (ONLINE, ALL_MEETINGS)]
    ds = build([RawCell("p1_nha_o", "qng.ba_dong", "2026", 1, 3)], TREE, others, 3, None)
    assert not ds.online_available and not ds.shares


def test_periods_in_time_order():
    got = sorted(
        ["2026", "2026-Q4", "2026-11", "2025-12", "2026-01", "2026-Q1", "x"], key=period_key
    )
    assert got == ["2025-12", "2026-01", "2026-Q1", "2026-11", "2026-Q4", "2026", "x"]
