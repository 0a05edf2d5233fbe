"""Officers' quick reports and their history: the queries the chat (actions/reports.py), the CLI
(bot/reports/cli.py), `/dulieu` / `/xoadulieu` and (later) the dashboard share. Functions take
a session and do not commit.

A report is changed only through `correct` and `withdraw`, which write the old and the new values
to `report_history` first: nothing is overwritten without its history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Report, ReportHistory

SUBMITTED, WITHDRAWN = "submitted", "withdrawn"
# What a correction may change (the rest: who filed it, when, under which role and area).
FIELDS = (
    "project",
    "indicator",
    "area_code",
    "period",
    "value",
    "unit",
    "note",
    "photo_ref",
    "latitude",
    "longitude",
)


def values_of(report: Report) -> dict[str, Any]:
    return {f: getattr(report, f) for f in FIELDS}


def add_report(session: AsyncSession, **values: Any) -> Report:
    now = datetime.now(UTC)
    report = Report(status=SUBMITTED, version=1, created_at=now, updated_at=now, **values)
    session.add(report)
    return report


async def get(session: AsyncSession, report_id: int) -> Report | None:
    return await session.get(Report, report_id)


async def recent_for(session: AsyncSession, officer_id: int, limit: int = 10) -> list[Report]:
    rows = await session.execute(
        select(Report)
        .where(Report.officer_id == officer_id)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit)
    )
    return list(rows.scalars())


def _record(
    session: AsyncSession,
    report: Report,
    action: str,
    old: dict[str, Any],
    new: dict[str, Any],
    by: int | None,
    role: str,
    now: datetime,
) -> None:
    session.add(
        ReportHistory(
            report_id=report.id,
            action=action,
            old_values=old,
            new_values=new,
            changed_by=by,
            changed_by_role=role,
            changed_at=now,
        )
    )


async def correct(
    session: AsyncSession, report: Report, new: dict[str, Any], by: int | None, role: str
) -> dict[str, Any]:
    """Change the report to `new` (only FIELDS), the old values kept in the history; what
    changed ({} when nothing did: no history row, no new version)."""
    now = datetime.now(UTC)
    old = values_of(report)
    changes = {k: v for k, v in new.items() if k in FIELDS and old.get(k) != v}
    if not changes:
        return {}
    _record(session, report, "corrected", {k: old[k] for k in changes}, changes, by, role, now)
    for k, v in changes.items():
        setattr(report, k, v)
    report.version += 1
    report.updated_at = now
    return changes


async def withdraw(session: AsyncSession, report: Report, by: int | None, role: str) -> bool:
    """Mark the report withdrawn (kept, with its history); False when it already was."""
    if report.status == WITHDRAWN:
        return False
    now = datetime.now(UTC)
    _record(
        session,
        report,
        "withdrawn",
        {"status": report.status},
        {"status": WITHDRAWN},
        by,
        role,
        now,
    )
    report.status = WITHDRAWN
    report.version += 1
    report.updated_at = now
    return True


async def history_of(session: AsyncSession, report_id: int) -> list[ReportHistory]:
    rows = await session.execute(
        select(ReportHistory).where(ReportHistory.report_id == report_id).order_by(ReportHistory.id)
    )
    return list(rows.scalars())


async def listing(
    session: AsyncSession,
    *,
    area: str | None = None,
    project: int | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[Report]:
    """Reports newest first, filtered by an area's subtree, a project, a status."""
    q = select(Report)
    if area:
        q = q.where((Report.area_code == area) | Report.area_code.startswith(area + "."))
    if project is not None:
        q = q.where(Report.project == project)
    if status:
        q = q.where(Report.status == status)
    rows = await session.execute(q.order_by(Report.id.desc()).limit(limit))
    return list(rows.scalars())


async def unlink_officer(session: AsyncSession, user_id: int) -> int:
    """An erased officer's reports stay, attributed to the role and area they were filed under;
    who filed them, and who changed them, is forgotten. How many reports."""
    n = (
        await session.execute(
            update(Report)
            .where(Report.officer_id == user_id)
            .values(officer_id=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount or 0
    await session.execute(
        update(ReportHistory)
        .where(ReportHistory.changed_by == user_id)
        .values(changed_by=None)
        .execution_options(synchronize_session=False)
    )
    return n


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


async def exported(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """An officer's reports, with their history, for `/dulieu`."""
    rows = await session.execute(
        select(Report).where(Report.officer_id == user_id).order_by(Report.id)
    )
    out = []
    for r in rows.scalars():
        out.append(
            {
                "id": r.id,
                **values_of(r),
                "officer_role": r.officer_role,
                "officer_area": r.officer_area,
                "status": r.status,
                "version": r.version,
                "created_at": _iso(r.created_at),
                "updated_at": _iso(r.updated_at),
                "history": [
                    {
                        "action": h.action,
                        "old_values": h.old_values,
                        "new_values": h.new_values,
                        "changed_at": _iso(h.changed_at),
                    }
                    for h in await history_of(session, r.id)
                ],
            }
        )
    return out
