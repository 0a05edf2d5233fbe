"""From the reports' sums per (indicator, area code, period) to the published table.

Levels: a report filed for a village counts in its commune; the finest published level is the
commune, never a village. A report filed for the province itself (or an area code no longer in
the tree) counts only in the province total.

Suppression (`open_data.min_cell_reports`, k): a commune cell summed from fewer than k reports is
published as suppressed: no value, no count, `suppressed` true. Never a zero.

Totals and differences: the province total of an indicator and period is the sum of the
PUBLISHED cells only (the communes' unsuppressed cells and, when it has k reports or more, the
province's own cell), with `suppressed_cells` saying how many cells were left out. So every
published number is a sum of other published numbers or of at least k reports: subtracting the
other communes from the total gives back nothing that is not already published (no complementary
suppression is needed, at the price of a total that says "of the published cells").

The share of meetings held online (the plan's target of at least 30%, Kế hoạch 168/KH-UBND) is
computed from the two indicators that carry it, `ONLINE` and `ALL_MEETINGS`, for an area and
period where both are published and the total is above zero; the province's from the cells where
both are published, over the same cells (so a commune whose online count is suppressed does not
lower the province's share).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.areas import AreaTree
from bot.flows.forms.schema import Lists
from bot.storage.repositories.opendata import RawCell

ONLINE = "p10_truc_tuyen"
ALL_MEETINGS = "p10_tong_cuoc"
ONLINE_TARGET = 0.30
ONLINE_TARGET_SOURCE = (
    "Kế hoạch 168/KH-UBND của UBND tỉnh Quảng Ngãi (2023): đến năm 2025, ít nhất 30% cuộc họp, "
    "hội nghị, tập huấn được tổ chức trực tuyến"
)
PERIOD_RE = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?$")


@functools.lru_cache(maxsize=4096)
def period_key(period: str) -> tuple:
    """Months, quarters and years in time order; a year after its months and quarters."""
    m = PERIOD_RE.match(period)
    if not m:
        return (9999, 99, 9, period)
    year, month, quarter = m.groups()
    if month:
        return (int(year), int(month), 0, period)
    if quarter:
        return (int(year), int(quarter) * 3, 1, period)
    return (int(year), 12, 2, period)


@dataclass(frozen=True)
class Indicator:
    code: str
    project: int
    project_name: str
    name: str
    unit: str


@dataclass(frozen=True)
class Cell:
    """A published row: a commune's cell or the province total."""

    indicator: Indicator
    area_code: str
    area_name: str
    area_level: str  # "commune" | "province"
    period: str
    value: float | None  # None: suppressed
    reports: int | None
    suppressed_cells: int = 0  # a province total: how many cells it leaves out

    @property
    def suppressed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Share:
    """Meetings held online, for an area and period."""

    area_code: str
    area_name: str
    area_level: str
    period: str
    online: float
    total: float

    @property
    def share(self) -> float:
        return self.online / self.total

    @property
    def meets_target(self) -> bool:
        return self.share >= ONLINE_TARGET


@dataclass
class Dataset:
    indicators: list[Indicator]
    cells: list[Cell]
    shares: list[Share]
    min_cell_reports: int
    last_updated: datetime | None
    province: tuple[str, str]  # (code, name)
    communes: list[tuple[str, str]] = field(default_factory=list)  # the ones with data
    periods: list[str] = field(default_factory=list)
    online_available: bool = False  # both meeting indicators are in content/indicators.yml
    _by_indicator: dict[str, list[Cell]] | None = field(default=None, repr=False)

    def select(
        self,
        *,
        area: str | None = None,
        period: str | None = None,
        indicator: str | None = None,
        level: str | None = None,
    ) -> list[Cell]:
        if indicator is not None:
            if self._by_indicator is None:
                self._by_indicator = {}
                for c in self.cells:
                    self._by_indicator.setdefault(c.indicator.code, []).append(c)
            pool = self._by_indicator.get(indicator, [])
        else:
            pool = self.cells
        return [
            c
            for c in pool
            if (area is None or c.area_code == area)
            and (period is None or c.period == period)
            and (indicator is None or c.indicator.code == indicator)
            and (level is None or c.area_level == level)
        ]

    def select_shares(self, *, area: str | None = None, period: str | None = None) -> list[Share]:
        return [
            s
            for s in self.shares
            if (area is None or s.area_code == area) and (period is None or s.period == period)
        ]


def indicators_of(lists: Lists) -> list[Indicator]:
    projects = {o.value: o.label_for("vi") for o in lists.projects}
    return [
        Indicator(
            code=str(o.value),
            project=int(o.extra["project"]),
            project_name=projects.get(o.extra["project"], f"Dự án {o.extra['project']}"),
            name=o.label_for("vi"),
            unit=o.extra["unit"].get("vi", ""),
        )
        for o in lists.indicators
    ]


class _Communes:
    """An area code -> its commune's code (None: the province itself or not in the tree)."""

    def __init__(self, tree: AreaTree) -> None:
        self.tree = tree
        self.memo: dict[str, str | None] = {}

    def __call__(self, code: str) -> str | None:
        if code not in self.memo:
            found = None
            probe = code
            while probe and self.tree.by_code.get(probe) is None and "." in probe:
                probe = probe.rsplit(".", 1)[0]  # a village no longer listed: its commune
            for area in self.tree.path(probe):
                if area.level == "commune":
                    found = area.code
                    break
            self.memo[code] = found
        return self.memo[code]


def build(
    raw: Iterable[RawCell],
    tree: AreaTree,
    indicators: list[Indicator],
    min_cell_reports: int,
    last_updated: datetime | None,
) -> Dataset:
    k = max(1, min_cell_reports)
    by_code = {i.code: i for i in indicators}
    roots = [a for a in tree.areas if a.parent is None]
    province = (roots[0].code, roots[0].name) if roots else ("", "")
    commune_of = _Communes(tree)
    # (indicator, commune or None for the province's own, period) -> [sum, count]
    acc: dict[tuple[str, str | None, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for r in raw:
        if r.indicator not in by_code:
            continue  # an indicator no longer listed: no name or unit to publish it under
        slot = acc[(r.indicator, commune_of(r.area_code), r.period)]
        slot[0] += r.total
        slot[1] += r.reports
    cells: list[Cell] = []
    # (indicator, period) -> [published sum, published reports, suppressed cells, published any]
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0, 0, 0])
    published: dict[tuple[str, str | None, str], float] = {}
    communes: set[str] = set()
    for (code, commune, period), (total, n) in acc.items():
        ok = n >= k
        t = totals[(code, period)]
        if ok:
            t[0] += total
            t[1] += n
            t[3] = 1
            published[(code, commune, period)] = total
        else:
            t[2] += 1
        if commune is None:
            continue  # the province's own reports: only in the total
        communes.add(commune)
        area = tree.by_code[commune]
        cells.append(
            Cell(
                by_code[code],
                commune,
                area.name,
                "commune",
                period,
                total if ok else None,
                int(n) if ok else None,
            )
        )
    for (code, period), (total, n, hidden, any_published) in totals.items():
        cells.append(
            Cell(
                by_code[code],
                province[0],
                province[1],
                "province",
                period,
                total if any_published else None,
                int(n) if any_published else None,
                int(hidden),
            )
        )
    order = {i.code: n for n, i in enumerate(indicators)}
    tree_order = {a.code: n for n, a in enumerate(tree.areas)}
    cells.sort(
        key=lambda c: (
            order[c.indicator.code],
            period_key(c.period),
            c.area_level != "province",
            tree_order.get(c.area_code, 0),
        )
    )
    shares = _shares(published, tree, province)
    periods = sorted({c.period for c in cells}, key=period_key)
    return Dataset(
        indicators=indicators,
        cells=cells,
        shares=shares,
        min_cell_reports=k,
        last_updated=last_updated,
        province=province,
        communes=sorted(
            ((c, tree.by_code[c].name) for c in communes), key=lambda p: tree_order[p[0]]
        ),
        periods=periods,
        online_available=ONLINE in by_code and ALL_MEETINGS in by_code,
    )


def _shares(
    published: dict[tuple[str, str | None, str], float],
    tree: AreaTree,
    province: tuple[str, str],
) -> list[Share]:
    out: list[Share] = []
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (code, commune, period), total in published.items():
        if code != ALL_MEETINGS:
            continue
        online = published.get((ONLINE, commune, period))
        if online is None:
            continue
        sums[period][0] += online
        sums[period][1] += total
        if commune is not None and total > 0:
            out.append(Share(commune, tree.by_code[commune].name, "commune", period, online, total))
    for period, (online, total) in sums.items():
        if total > 0:
            out.append(Share(province[0], province[1], "province", period, online, total))
    tree_order = {a.code: n for n, a in enumerate(tree.areas)}
    out.sort(
        key=lambda s: (
            period_key(s.period),
            s.area_level != "province",
            tree_order.get(s.area_code, 0),
        )
    )
    return out
