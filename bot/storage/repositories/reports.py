"""Officers' quick reports and their history: the queries the chat (actions/reports.py), the CLI
(bot/reports/cli.py), `/dulieu` / `/xoadulieu` and (later) the dashboard share. Functions take
a session and do not commit.

A report is changed only through `correct`, `withdraw` and `review`, which write the old and the
new values to `report_history` first: nothing is overwritten without its history.

The dashboard (bot/staff/pages/reports.py) lists with `ReportFilter` and `page` (keyset paging:
a cursor holds the sort value and id of the page's last or first row, so page 2,000 costs what
page 1 does), counts with a cap (`count`), and exports with `iter_export` (the same filter, in
keyset batches, never every row at once). An area filter is its subtree: the code itself or any
code under it (`subtree`: a prefix range on SQLite, `LIKE 'code.%'` on PostgreSQL, both served
by `ix_reports_area_period`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, true, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Report, ReportHistory, StaffAccount, User

SUBMITTED, WITHDRAWN = "submitted", "withdrawn"
PENDING, CHECKED, SENT_BACK = "pending", "checked", "sent_back"  # Report.review
# What the dashboard filters by: a review state, or withdrawn (whatever its review).
STATES = (PENDING, CHECKED, SENT_BACK, WITHDRAWN)
SORTS = {
    "created": Report.created_at,
    "period": Report.period,
    "value": Report.value,
    "area": Report.area_code,
    "indicator": Report.indicator,
}
COUNT_CAP = 10_000
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
    before, after = {k: old[k] for k in changes}, dict(changes)
    if report.review != PENDING:  # a corrected report waits for a new check
        before["review"], after["review"] = report.review, PENDING
    _record(session, report, "corrected", before, after, by, role, now)
    for k, v in changes.items():
        setattr(report, k, v)
    report.review = PENDING
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


def editable(report: Report, window: timedelta, now: datetime | None = None) -> bool:
    """Whether the officer may still correct or withdraw it: not withdrawn, and within `window`
    of being sent, or sent back by staff (then at any time, until it is corrected)."""
    if report.status != SUBMITTED:
        return False
    if report.review == SENT_BACK:
        return True
    return (now or datetime.now(UTC)) - report.created_at <= window


async def review(
    session: AsyncSession,
    report: Report,
    verdict: str,
    *,
    staff_id: int,
    comment: str | None = None,
) -> ReportHistory:
    """A staff member marks the report checked, or sends it back with a comment; kept in the
    history (changed_by_role "staff", the account in changed_by_staff)."""
    if verdict not in (CHECKED, SENT_BACK):
        raise ValueError(f"verdict {verdict!r}: {CHECKED} or {SENT_BACK}")
    comment = (comment or "").strip() or None
    if verdict == SENT_BACK and comment is None:
        raise ValueError("sending back needs a comment")
    if report.status == WITHDRAWN:
        raise ValueError("a withdrawn report is not reviewed")
    now = datetime.now(UTC)
    entry = ReportHistory(
        report_id=report.id,
        action=verdict,
        old_values={"review": report.review, "review_comment": report.review_comment},
        new_values={"review": verdict, "review_comment": comment},
        changed_by=None,
        changed_by_role="staff",
        changed_by_staff=staff_id,
        changed_at=now,
    )
    session.add(entry)
    report.review = verdict
    report.review_comment = comment
    report.reviewed_by = staff_id
    report.reviewed_at = now
    report.updated_at = now
    return entry


# ---- the dashboard's listing ------------------------------------------------------------------


def subtree(session: AsyncSession, column: Any, code: str) -> Any:
    """`column` is `code` or under it (`code.` a prefix). SQLite: a range on the binary order
    (`.` + 1 is `/`), which an index serves (its LIKE is case-insensitive and would not be);
    PostgreSQL: LIKE with the prefix escaped, served by the varchar_pattern_ops index (a range
    would follow the database's collation, which may ignore punctuation)."""
    if session.get_bind().dialect.name == "sqlite":
        return or_(column == code, and_(column > code + ".", column < code + "/"))
    return or_(column == code, column.startswith(code + ".", autoescape=True))


def likely(session: AsyncSession):
    """`likely(condition)` on SQLite (a hint: usually true, so not the index to walk); the
    condition itself elsewhere (PostgreSQL plans from its statistics)."""
    if session.get_bind().dialect.name == "sqlite":
        return lambda condition: func.likely(condition)
    return lambda condition: condition


@dataclass
class ReportFilter:
    """What the reports page shows. `scope`: a commune account's area (its subtree only, on top
    of `area`); `period`: "2026-11", "2026-Q4", or a year ("2026": every period of it)."""

    area: str | None = None
    scope: str | None = None
    project: int | None = None
    indicator: str | None = None
    period: str | None = None
    officer: int | None = None
    state: str | None = None
    sort: str = "created"
    descending: bool = True
    scope_none: bool = field(default=False, repr=False)  # a commune account without an area

    def where(self, session: AsyncSession) -> list[Any]:
        out: list[Any] = []
        if self.scope_none:
            out.append(literal(False))
        if self.scope:
            out.append(subtree(session, Report.area_code, self.scope))
        if self.area:
            out.append(subtree(session, Report.area_code, self.area))
        if self.officer is not None:
            out.append(Report.officer_id == self.officer)
        # SQLite keeps no statistics (the bot never runs ANALYZE) and takes any equality on an
        # index's first column for a narrow one: with an area or an officer (narrow), the
        # broad terms are marked likely() so it walks the narrow index, not half the table.
        broad = likely(session) if out else (lambda c: c)
        if self.project is not None:
            out.append(broad(Report.project == self.project))
        if self.indicator:
            out.append(Report.indicator == self.indicator)
        if self.period:
            if len(self.period) == 4:  # a year: the year, its quarters and its months
                out.append(
                    broad(
                        or_(
                            Report.period == self.period,
                            Report.period.startswith(self.period + "-"),
                        )
                    )
                )
            else:
                out.append(Report.period == self.period)
        if self.state == WITHDRAWN:
            out.append(Report.status == WITHDRAWN)
        elif self.state in (PENDING, CHECKED, SENT_BACK):
            out.append(broad(Report.review == self.state))
            out.append(Report.status == SUBMITTED)
        return out or [true()]


@dataclass
class Row:
    """A report as the page shows it: with its officer's display name (None when the officer
    was erased or never gave one) and its reviewer's account name."""

    report: Report
    officer_name: str | None
    reviewer: str | None


@dataclass
class Page:
    rows: list[Row]
    next_cursor: str | None  # the cursor of the page after, None on the last
    prev_cursor: str | None  # the cursor of the page before, None on the first


def encode_cursor(sort: str, value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    raw = json.dumps([sort, value, row_id], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """The sort value and id of a cursor made for `sort`; ValueError for anything else."""
    if not cursor or len(cursor) > 400:
        raise ValueError("bad cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, value, row_id = json.loads(raw)
    except (ValueError, TypeError) as e:
        raise ValueError("bad cursor") from e
    if got_sort != sort or not isinstance(row_id, int) or isinstance(row_id, bool):
        raise ValueError("bad cursor")
    if sort == "created":
        if not isinstance(value, str):
            raise ValueError("bad cursor")
        value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            raise ValueError("bad cursor")
    elif sort == "value":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError("bad cursor")
        value = float(value)
    elif not isinstance(value, str):
        raise ValueError("bad cursor")
    return value, row_id


def _sort_value(report: Report, sort: str) -> Any:
    return getattr(report, SORTS[sort].key)


def _listing_query(session: AsyncSession, f: ReportFilter):
    return (
        select(Report, User.display_name, StaffAccount.name)
        .outerjoin(User, User.id == Report.officer_id)
        .outerjoin(StaffAccount, StaffAccount.id == Report.reviewed_by)
        .where(*f.where(session))
    )


async def page(
    session: AsyncSession,
    f: ReportFilter,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Page:
    """One page of reports in `f`'s order: the first, the one after cursor `after` or the one
    before cursor `before`. ValueError for a cursor that is not one of this sort's."""
    column = SORTS.get(f.sort)
    if column is None:
        raise ValueError(f"sort {f.sort!r}")
    backward = before is not None
    cursor = before if backward else after
    # Walking backward, the order is reversed and the rows put back afterwards.
    desc = f.descending != backward
    q = _listing_query(session, f)
    if cursor is not None:
        value, row_id = decode_cursor(f.sort, cursor)
        key = tuple_(column, Report.id)
        bound = tuple_(literal(value, column.type), literal(row_id))
        q = q.where(key < bound if desc else key > bound)
    order = (column.desc(), Report.id.desc()) if desc else (column.asc(), Report.id.asc())
    got = (await session.execute(q.order_by(*order).limit(limit + 1))).all()
    more = len(got) > limit
    rows = [Row(r, name, reviewer) for r, name, reviewer in got[:limit]]
    if backward:
        rows.reverse()
    if not rows:
        return Page([], None, None)

    def cur(row: Row) -> str:
        return encode_cursor(f.sort, _sort_value(row.report, f.sort), row.report.id)

    has_next = True if backward else more
    has_prev = more if backward else after is not None
    return Page(
        rows,
        cur(rows[-1]) if has_next else None,
        cur(rows[0]) if has_prev else None,
    )


async def count(session: AsyncSession, f: ReportFilter, cap: int = COUNT_CAP) -> int:
    """How many reports `f` holds, counted up to `cap + 1` (the page says "more than cap")."""
    inner = select(Report.id).where(*f.where(session)).limit(cap + 1).subquery()
    return (await session.execute(select(func.count()).select_from(inner))).scalar_one()


async def row(session: AsyncSession, report_id: int) -> Row | None:
    got = (
        await session.execute(_listing_query(session, ReportFilter()).where(Report.id == report_id))
    ).first()
    return Row(*got) if got is not None else None


async def iter_export(
    session: AsyncSession, f: ReportFilter, batch: int = 1000
) -> AsyncIterator[Row]:
    """Every report of `f`, in its order, read `batch` at a time (keyset), the session's
    identity map emptied after each batch: memory stays flat whatever the count."""
    after = None
    while True:
        got = await page(session, f, after=after, limit=batch)
        for r in got.rows:
            yield r
        if got.next_cursor is None:
            return
        after = got.next_cursor
        session.expunge_all()


async def officers_in(
    session: AsyncSession, scope: str | None = None
) -> list[tuple[int, str | None]]:
    """The officers (role officer or admin) who filed reports, those of a commune account's area
    only when `scope` is given: (user id, their display name or None). Users by role, each
    checked with one probe of ix_reports_officer: not a DISTINCT over every report (40 ms on
    PostgreSQL with 100,000 reports, on every page)."""
    filed = select(Report.id).where(Report.officer_id == User.id).exists()
    q = select(User.id, User.display_name).where(User.role.in_(("officer", "admin")), filed)
    if scope:
        q = q.where(User.area_code.is_not(None), subtree(session, User.area_code, scope))
    got = (await session.execute(q.order_by(User.display_name, User.id))).all()
    return [(uid, name) for uid, name in got]


async def history_rows(
    session: AsyncSession, report_id: int
) -> list[tuple[ReportHistory, str | None]]:
    """The report's history, oldest first, with the staff account's name of a review."""
    got = await session.execute(
        select(ReportHistory, StaffAccount.name)
        .outerjoin(StaffAccount, StaffAccount.id == ReportHistory.changed_by_staff)
        .where(ReportHistory.report_id == report_id)
        .order_by(ReportHistory.id)
    )
    return [(h, name) for h, name in got.all()]


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
