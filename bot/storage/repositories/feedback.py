"""Citizens' feedback and its staff-side events: the queries the chat (actions/feedback.py), the
CLI (bot/reports/cli.py), `/dulieu` / `/xoadulieu` and (later) the dashboard share. Functions
take a session and do not commit (`add_feedback` flushes, in a savepoint, to learn whether its
tracking code was free).

The dashboard's inbox (bot/staff/pages/feedback.py) lists with `FeedbackFilter` and `page`
(keyset paging, the cursors of bot/storage/repositories/reports.py), exports with
`iter_export`, assigns with `assign`. Overdue is computed, not stored: open (`OPEN`) and sent
before `now - feedback.overdue_days` (`overdue_cutoff`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, or_, select, true, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Feedback, FeedbackEvent, StaffAccount
from bot.storage.repositories.reports import decode_cursor, encode_cursor, likely, subtree

SUBMITTED = "submitted"
STATUSES = ("received", "in_progress", "resolved", "rejected")  # what staff may set
OPEN = (SUBMITTED, "received", "in_progress")  # not yet resolved or rejected
ALL_STATUSES = (SUBMITTED, *STATUSES)
UNASSIGNED = "none"
COUNT_CAP = 10_000
CODE_TRIES = 8


class NoFreeCode(RuntimeError):
    pass


async def add_feedback(
    session: AsyncSession, new_code: Callable[[], str], **values: Any
) -> Feedback:
    """A new feedback with a fresh tracking code from `new_code` (another one is drawn when the
    code is taken, in the database: two processes cannot both get one)."""
    for _ in range(CODE_TRIES):
        code = new_code()
        if await by_code(session, code) is not None:
            continue
        now = datetime.now(UTC)
        fb = Feedback(code=code, status=SUBMITTED, created_at=now, updated_at=now, **values)
        try:
            async with session.begin_nested():
                session.add(fb)
                await session.flush()
        except IntegrityError:
            continue
        return fb
    raise NoFreeCode(f"no free tracking code after {CODE_TRIES} tries")


async def by_code(session: AsyncSession, code: str) -> Feedback | None:
    rows = await session.execute(select(Feedback).where(Feedback.code == code))
    return rows.scalar_one_or_none()


async def events_of(session: AsyncSession, feedback_id: int) -> list[FeedbackEvent]:
    rows = await session.execute(
        select(FeedbackEvent)
        .where(FeedbackEvent.feedback_id == feedback_id)
        .order_by(FeedbackEvent.id)
    )
    return list(rows.scalars())


def set_status(
    session: AsyncSession,
    fb: Feedback,
    status: str,
    *,
    reply: str | None = None,
    reason: str | None = None,
    actor: str = "cli",
    staff_id: int | None = None,
) -> FeedbackEvent:
    """A new status (the same one for a reply alone), kept as an event. A rejection needs a
    reason."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r}: one of {', '.join(STATUSES)}")
    if status == "rejected" and not (reason or "").strip():
        raise ValueError("a rejection needs a reason (--reason)")
    now = datetime.now(UTC)
    event = FeedbackEvent(
        feedback_id=fb.id,
        status=status,
        reply=reply,
        reason=reason,
        actor=actor,
        staff_id=staff_id,
        at=now,
    )
    session.add(event)
    fb.status = status
    fb.updated_at = now
    return event


def assign(fb: Feedback, account: StaffAccount | None) -> None:
    """Assign the feedback to a staff account (None: to nobody). A commune account's area
    becomes the feedback's, so that commune sees it."""
    now = datetime.now(UTC)
    fb.assigned_to = account.id if account is not None else None
    fb.assigned_at = now if account is not None else None
    if account is not None and account.role == "commune" and account.area_code:
        fb.area_code = account.area_code
    fb.updated_at = now


def overdue_cutoff(days: float, now: datetime | None = None) -> datetime:
    """Feedback sent before this and still open is overdue."""
    return (now or datetime.now(UTC)) - timedelta(days=days)


def is_overdue(fb: Feedback, days: float, now: datetime | None = None) -> bool:
    return fb.status in OPEN and fb.created_at < overdue_cutoff(days, now)


@dataclass
class FeedbackFilter:
    """What the inbox shows. `assigned`: a staff account id, or UNASSIGNED; `overdue_before`:
    only open feedback sent before it (`overdue_cutoff`); `scope`/`scope_staff`: a commune
    account sees its area's feedback and what is assigned to it; `code`: one tracking code."""

    status: str | None = None
    category: str | None = None
    assigned: int | str | None = None
    overdue_before: datetime | None = None
    area: str | None = None
    code: str | None = None
    scope: str | None = None
    scope_staff: int | None = None
    scope_none: bool = False  # a commune account without an area: only what is assigned to it
    descending: bool = True

    def where(self, session: AsyncSession) -> list[Any]:
        out: list[Any] = []
        if self.scope or self.scope_none:
            mine = Feedback.assigned_to == self.scope_staff if self.scope_staff else literal(False)
            if self.scope and not self.scope_none:
                out.append(or_(subtree(session, Feedback.area_code, self.scope), mine))
            else:
                out.append(mine)
        open_ = likely(session)(Feedback.status.in_(OPEN))  # most feedback: see reports.likely
        if self.status == "open":
            out.append(open_)
        elif self.status:
            out.append(Feedback.status == self.status)
        if self.category:
            out.append(Feedback.category == self.category)
        if self.assigned == UNASSIGNED:
            out.append(Feedback.assigned_to.is_(None))
        elif isinstance(self.assigned, int):
            out.append(Feedback.assigned_to == self.assigned)
        if self.overdue_before is not None:
            # Open and older than the cutoff: the date index walked backward from the cutoff
            # (SQLite would take the status index and sort every open row).
            if self.status != "open":
                out.append(open_)
            out.append(Feedback.created_at < self.overdue_before)
        if self.area:
            out.append(subtree(session, Feedback.area_code, self.area))
        if self.code:
            out.append(Feedback.code == self.code)
        return out or [true()]


@dataclass
class Row:
    feedback: Feedback
    assignee: str | None  # the staff account's name


@dataclass
class Page:
    rows: list[Row]
    next_cursor: str | None
    prev_cursor: str | None


def _query(session: AsyncSession, f: FeedbackFilter):
    return (
        select(Feedback, StaffAccount.name)
        .outerjoin(StaffAccount, StaffAccount.id == Feedback.assigned_to)
        .where(*f.where(session))
    )


async def page(
    session: AsyncSession,
    f: FeedbackFilter,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Page:
    """One page of feedback by date sent (newest first unless `f.descending` is False); the
    cursors as in `bot.storage.repositories.reports.page`."""
    backward = before is not None
    cursor = before if backward else after
    desc = f.descending != backward
    q = _query(session, f)
    if cursor is not None:
        value, row_id = decode_cursor("created", cursor)
        key = tuple_(Feedback.created_at, Feedback.id)
        bound = tuple_(literal(value, Feedback.created_at.type), literal(row_id))
        q = q.where(key < bound if desc else key > bound)
    order = (
        (Feedback.created_at.desc(), Feedback.id.desc())
        if desc
        else (Feedback.created_at.asc(), Feedback.id.asc())
    )
    got = (await session.execute(q.order_by(*order).limit(limit + 1))).all()
    more = len(got) > limit
    rows = [Row(fb, name) for fb, name in got[:limit]]
    if backward:
        rows.reverse()
    if not rows:
        return Page([], None, None)

    def cur(r: Row) -> str:
        return encode_cursor("created", r.feedback.created_at, r.feedback.id)

    has_next = True if backward else more
    has_prev = more if backward else after is not None
    return Page(rows, cur(rows[-1]) if has_next else None, cur(rows[0]) if has_prev else None)


async def count(session: AsyncSession, f: FeedbackFilter, cap: int = COUNT_CAP) -> int:
    inner = select(Feedback.id).where(*f.where(session)).limit(cap + 1).subquery()
    return (await session.execute(select(func.count()).select_from(inner))).scalar_one()


async def row(session: AsyncSession, feedback_id: int) -> Row | None:
    got = (
        await session.execute(_query(session, FeedbackFilter()).where(Feedback.id == feedback_id))
    ).first()
    return Row(*got) if got is not None else None


async def last_replies(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    """The latest staff reply of each feedback in `ids` (for the export)."""
    if not ids:
        return {}
    latest = (
        select(func.max(FeedbackEvent.id))
        .where(FeedbackEvent.feedback_id.in_(ids), FeedbackEvent.reply.is_not(None))
        .group_by(FeedbackEvent.feedback_id)
    )
    got = await session.execute(
        select(FeedbackEvent.feedback_id, FeedbackEvent.reply).where(FeedbackEvent.id.in_(latest))
    )
    return {fid: reply for fid, reply in got.all()}


async def iter_export(
    session: AsyncSession, f: FeedbackFilter, batch: int = 1000
) -> AsyncIterator[tuple[Row, str | None]]:
    """Every feedback of `f` with its latest reply, `batch` at a time (keyset)."""
    after = None
    while True:
        got = await page(session, f, after=after, limit=batch)
        replies = await last_replies(session, [r.feedback.id for r in got.rows])
        for r in got.rows:
            yield r, replies.get(r.feedback.id)
        if got.next_cursor is None:
            return
        after = got.next_cursor
        session.expunge_all()


async def for_user(session: AsyncSession, user_id: int) -> list[Feedback]:
    rows = await session.execute(
        select(Feedback).where(Feedback.user_id == user_id).order_by(Feedback.id)
    )
    return list(rows.scalars())


async def anonymise_user(session: AsyncSession, user_id: int) -> int:
    """The user's feedback stays for the record without anything that leads back to them: no
    user, no contact phone, no photo, no location. How many."""
    return (
        await session.execute(
            update(Feedback)
            .where(Feedback.user_id == user_id)
            .values(user_id=None, phone=None, photo_ref=None, latitude=None, longitude=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount or 0


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


async def exported(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """A citizen's feedback, with its events, for `/dulieu`."""
    out = []
    for fb in await for_user(session, user_id):
        out.append(
            {
                "code": fb.code,
                "category": fb.category,
                "description": fb.description,
                "photo_ref": fb.photo_ref,
                "latitude": fb.latitude,
                "longitude": fb.longitude,
                "phone": fb.phone,
                "channel": fb.channel,
                "status": fb.status,
                "created_at": _iso(fb.created_at),
                "events": [
                    {"status": e.status, "reply": e.reply, "reason": e.reason, "at": _iso(e.at)}
                    for e in await events_of(session, fb.id)
                ],
            }
        )
    return out
