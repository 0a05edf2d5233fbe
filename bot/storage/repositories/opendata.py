"""The aggregate queries behind the public open data (bot/opendata/): sums and counts of
officers' reports per indicator, area code and period, and a fingerprint of the reports table
that changes whenever any of those could.

Nothing here reads a personal column: no officer, note, photo, location or channel ever leaves
the database through these queries, only `indicator, area_code, period, sum(value), count(*)`.

Which reports count: every report not withdrawn by its officer (`status`) and not sent back by
staff for correction (`review`, migration 0008). Reports not yet reviewed ("pending") count as
well as "checked" ones: the programme's figures would otherwise wait weeks for a review; a report
sent back drops out until it is corrected (a correction puts it back to "pending").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Report

EXCLUDED_STATUSES = ("withdrawn",)  # Report.status
EXCLUDED_REVIEWS = ("sent_back",)  # Report.review


@dataclass(frozen=True)
class RawCell:
    indicator: str
    area_code: str
    period: str
    total: float
    reports: int


@dataclass(frozen=True)
class Fingerprint:
    """Changes when a report is added, corrected (version), withdrawn or reviewed (status
    counts), or touched in any way that moves `updated_at`."""

    rows: int
    max_id: int
    versions: int
    excluded: int
    last_updated: datetime | None


def _counted():
    clause = Report.status.not_in(EXCLUDED_STATUSES)
    review = getattr(Report, "review", None)  # 0008's column; absent before it lands
    if review is not None:
        clause = clause & review.not_in(EXCLUDED_REVIEWS)
    return clause


async def cells(session: AsyncSession) -> list[RawCell]:
    """One row per (indicator, area code, period) of the counted reports."""
    q = (
        select(
            Report.indicator,
            Report.area_code,
            Report.period,
            func.sum(Report.value),
            func.count(),
        )
        .where(_counted())
        .group_by(Report.indicator, Report.area_code, Report.period)
    )
    rows = await session.execute(q)
    return [RawCell(i, a, p, float(t or 0.0), int(n)) for i, a, p, t, n in rows]


async def fingerprint(session: AsyncSession) -> Fingerprint:
    q = select(
        func.count(),
        func.coalesce(func.max(Report.id), 0),
        func.coalesce(func.sum(Report.version), 0),
        func.coalesce(func.sum(case((_counted(), 0), else_=1)), 0),
        func.max(Report.updated_at),
    ).select_from(Report)
    n, max_id, versions, excluded, last = (await session.execute(q)).one()
    return Fingerprint(int(n), int(max_id), int(versions), int(excluded), last)
