"""Notices, who they reach, and the RSVP answers: the queries the CLI, the dashboard, the
reminder job and the RSVP action share (bot/notices).

Who a notice reaches (`recipients`) is one query on both databases:

- **subscribers** (an active subscription, the user reachable, on a push channel): in one of the
  notice's areas (the subscription's area is the area or under it, by dotted-code prefix: a
  commune includes its villages), speaking one of its languages (`users.locale`, Vietnamese when
  unset), having chosen one of its topics (a subscription without topics takes every topic; an
  urgent notice reaches every subscriber of its areas whatever they chose), of its roles;
- **officers by role** (`--role officer`): users whose role is officer or admin, in the areas by
  their own `users.area_code`, whether they subscribed or not, unless they stopped notices.

Functions take a session and do not commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.dialect import dialect_insert
from bot.storage.models import Notice, NoticeRsvp, OutboxEntry, Subscription, User

OFFICER_ROLES = ("officer", "admin")
ROLES = ("villager", "officer")
YES, NO = "yes", "no"
PAGE = 5000  # recipients read at a time (keyset pages by user id)

SCHEDULED, SENDING, DONE, CANCELLED = "scheduled", "sending", "done", "cancelled"
OPEN = (SCHEDULED, SENDING)


@dataclass(frozen=True)
class Targets:
    """Who a notice is for; empty tuples mean everyone."""

    areas: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    urgent: bool = False  # every subscriber of the areas, whatever topics they chose

    @classmethod
    def of(cls, notice: Notice, urgent: bool = False) -> Targets:
        return cls(
            tuple(notice.areas or ()),
            tuple(notice.langs or ()),
            tuple(notice.roles or ()),
            tuple(notice.topics or ()),
            urgent,
        )


@dataclass(frozen=True)
class Recipient:
    user_id: int
    channel: str
    external_id: str
    lang: str


def _lang() -> ColumnElement[Any]:
    return func.coalesce(User.locale, "vi")


def _within(column: Any, areas: Sequence[str]) -> ColumnElement[bool]:
    """The column's area is one of `areas` or under one (dotted-code prefix, LIKE-escaped)."""
    return or_(*(or_(column == a, column.startswith(a + ".", autoescape=True)) for a in areas))


def _topic_sets(column: Any, topics: Sequence[str]) -> ColumnElement[bool]:
    return or_(column.is_(None), *(column.contains(f",{t},", autoescape=True) for t in topics))


def encode_topics(topics: Sequence[str] | None) -> str | None:
    """ ",a,b," (searchable with LIKE on both databases); None: every topic."""
    return None if topics is None else "," + ",".join(sorted(set(topics))) + ","


def decode_topics(stored: str | None) -> list[str] | None:
    return None if stored is None else [t for t in stored.split(",") if t]


def targeted(targets: Targets, channels: Sequence[str]) -> ColumnElement[bool]:
    """The WHERE clause on `users` for the notice's recipients (see the module docstring)."""
    s = Subscription
    subscribed = [s.user_id == User.id, s.channel == User.channel, s.active.is_(True)]
    if targets.areas:
        subscribed.append(_within(s.area_code, targets.areas))
    if targets.topics and not targets.urgent:
        subscribed.append(_topic_sets(s.topics, targets.topics))
    branches: list[ColumnElement[bool]] = []
    roles = set(targets.roles)
    if not roles or "villager" in roles:
        branch = exists().where(*subscribed)
        if roles == {"villager"}:
            branch = and_(User.role == "villager", branch)
        branches.append(branch)
    if "officer" in roles:
        stopped = exists().where(
            s.user_id == User.id, s.channel == User.channel, s.active.is_(False)
        )
        officer = [User.role.in_(OFFICER_ROLES), ~stopped]
        if targets.areas:
            officer.append(_within(User.area_code, targets.areas))
        branches.append(and_(*officer))
    where = [User.reachable.is_(True), User.channel.in_(list(channels)), or_(*branches)]
    if targets.langs:
        where.append(_lang().in_(list(targets.langs)))
    return and_(*where)


async def recipients(
    session: AsyncSession, targets: Targets, channels: Sequence[str], page: int = PAGE
) -> AsyncIterator[list[Recipient]]:
    """The recipients, a page at a time, in user id order (keyset pagination: no OFFSET, no
    cursor held open while the caller writes)."""
    where = targeted(targets, channels)
    last = 0
    while True:
        rows = (
            await session.execute(
                select(User.id, User.channel, User.external_id, _lang().label("lang"))
                .where(User.id > last, where)
                .order_by(User.id)
                .limit(page)
            )
        ).all()
        if not rows:
            return
        yield [Recipient(r.id, r.channel, r.external_id, r.lang) for r in rows]
        if len(rows) < page:
            return
        last = rows[-1].id


async def count_by_channel_lang(
    session: AsyncSession, targets: Targets, channels: Sequence[str]
) -> dict[tuple[str, str], int]:
    """How many the notice would reach, per (channel, language)."""
    lang = _lang().label("lang")
    rows = await session.execute(
        select(User.channel, lang, func.count())
        .where(targeted(targets, channels))
        .group_by(User.channel, lang)
    )
    return {(r[0], r[1]): r[2] for r in rows}


async def reaches(
    session: AsyncSession, targets: Targets, channels: Sequence[str], user_id: int
) -> bool:
    """Whether the notice is for this one user (the same clause as `recipients`)."""
    found = await session.execute(
        select(User.id).where(User.id == user_id, targeted(targets, channels))
    )
    return found.first() is not None


# ---- notices


async def get(session: AsyncSession, notice_id: int) -> Notice | None:
    return await session.get(Notice, notice_id)


async def listing(session: AsyncSession, limit: int = 50, offset: int = 0) -> list[Notice]:
    """The latest notices first."""
    rows = await session.execute(
        select(Notice).order_by(Notice.id.desc()).limit(limit).offset(offset)
    )
    return list(rows.scalars())


async def open_notices(session: AsyncSession) -> list[Notice]:
    """Notices still going out or waiting for their time."""
    rows = await session.execute(select(Notice).where(Notice.status.in_(OPEN)))
    return list(rows.scalars())


async def unfinished_rows(session: AsyncSession, notice_id: int) -> int:
    """The notice's outbox rows still to send."""
    return (
        await session.execute(
            select(func.count())
            .select_from(OutboxEntry)
            .where(
                OutboxEntry.notice_id == notice_id,
                OutboxEntry.status.in_(("queued", "sending")),
            )
        )
    ).scalar_one()


async def user_rows(session: AsyncSession, user_id: int) -> dict[int, str]:
    """{notice id: status} of the user's notice rows."""
    rows = await session.execute(
        select(OutboxEntry.notice_id, OutboxEntry.status).where(
            OutboxEntry.user_id == user_id, OutboxEntry.notice_id.is_not(None)
        )
    )
    out: dict[int, str] = {}
    for notice_id, status in rows:
        if out.get(notice_id) not in ("queued", "sending"):
            out[notice_id] = status
    return out


async def drop_user_rows(
    session: AsyncSession, user_id: int, reason: str, notice_ids: Sequence[int] | None = None
) -> int:
    """The user's queued notice rows (of `notice_ids`, or all) are not sent: failed with
    `reason` ("unsubscribed", "retargeted"). A row being sent right now goes. How many."""
    where = [
        OutboxEntry.user_id == user_id,
        OutboxEntry.notice_id.is_not(None),
        OutboxEntry.status == "queued",
    ]
    if notice_ids is not None:
        if not notice_ids:
            return 0
        where.append(OutboxEntry.notice_id.in_(list(notice_ids)))
    result = await session.execute(
        update(OutboxEntry)
        .where(*where)
        .values(status="failed", payload=None, reason=reason, error=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# ---- RSVP


async def was_sent(session: AsyncSession, user_id: int, notice_id: int) -> bool:
    """Whether the notice was addressed to the user (they have its outbox row)."""
    found = await session.execute(
        select(exists().where(OutboxEntry.user_id == user_id, OutboxEntry.notice_id == notice_id))
    )
    return bool(found.scalar())


async def answer(session: AsyncSession, notice_id: int, user_id: int, channel: str, yes: bool):
    """Record (or change) the user's answer; True when it changed."""
    at = datetime.now(UTC)
    value = YES if yes else NO
    current = (
        await session.execute(
            select(NoticeRsvp).where(
                NoticeRsvp.notice_id == notice_id, NoticeRsvp.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    if current is None:
        inserted = await session.execute(
            dialect_insert(session, NoticeRsvp)
            .values(
                notice_id=notice_id, user_id=user_id, channel=channel, answer=value, answered_at=at
            )
            .on_conflict_do_nothing(index_elements=["notice_id", "user_id"])
        )
        if inserted.rowcount:
            return True
        current = (
            await session.execute(
                select(NoticeRsvp).where(
                    NoticeRsvp.notice_id == notice_id, NoticeRsvp.user_id == user_id
                )
            )
        ).scalar_one()
    if current.answer == value:
        return False
    current.answer, current.answered_at = value, at
    return True


async def rsvp_counts(session: AsyncSession, notice_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(NoticeRsvp.answer, func.count())
        .where(NoticeRsvp.notice_id == notice_id)
        .group_by(NoticeRsvp.answer)
    )
    got = {r[0]: r[1] for r in rows}
    return {YES: got.get(YES, 0), NO: got.get(NO, 0)}


async def attendees(
    session: AsyncSession, notice_id: int, page: int = 1000
) -> AsyncIterator[tuple[Any, ...]]:
    """Those who said yes: (answered at, channel, language, name, phone, area), page by page."""
    last = 0
    while True:
        rows = (
            await session.execute(
                select(
                    NoticeRsvp.id,
                    NoticeRsvp.answered_at,
                    NoticeRsvp.channel,
                    _lang(),
                    User.display_name,
                    User.phone,
                    func.coalesce(Subscription.area_code, User.area_code),
                )
                .join(User, User.id == NoticeRsvp.user_id)
                .outerjoin(
                    Subscription,
                    and_(Subscription.user_id == User.id, Subscription.channel == User.channel),
                )
                .where(
                    NoticeRsvp.notice_id == notice_id,
                    NoticeRsvp.answer == YES,
                    NoticeRsvp.id > last,
                )
                .order_by(NoticeRsvp.id)
                .limit(page)
            )
        ).all()
        for r in rows:
            yield tuple(r[1:])
        if len(rows) < page:
            return
        last = rows[-1][0]


async def claim_reminders(
    session: AsyncSession, notice_id: int, limit: int = 500
) -> list[tuple[int, str, str, str]]:
    """Take up to `limit` yes-answers not reminded yet, marking them reminded in the same
    statement (so two processes never remind one person twice): (user id, channel, platform id,
    language) of the reachable ones. Does not commit."""
    at = datetime.now(UTC)
    ids = (
        select(NoticeRsvp.id)
        .where(
            NoticeRsvp.notice_id == notice_id,
            NoticeRsvp.answer == YES,
            NoticeRsvp.reminded_at.is_(None),
        )
        .order_by(NoticeRsvp.id)
        .limit(limit)
    ).scalar_subquery()
    taken = (
        await session.execute(
            update(NoticeRsvp)
            .where(NoticeRsvp.id.in_(ids), NoticeRsvp.reminded_at.is_(None))
            .values(reminded_at=at)
            .returning(NoticeRsvp.user_id)
            .execution_options(synchronize_session=False)
        )
    ).scalars()
    user_ids = list(taken)
    if not user_ids:
        return []
    rows = await session.execute(
        select(User.id, User.channel, User.external_id, _lang())
        .where(User.id.in_(user_ids), User.reachable.is_(True))
        .order_by(User.id)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def reminders_due(session: AsyncSession, before: datetime, now: datetime) -> list[Notice]:
    """Notices with RSVP whose event is between now and `before`, not cancelled, with a yes not
    reminded yet."""
    pending = exists().where(
        NoticeRsvp.notice_id == Notice.id,
        NoticeRsvp.answer == YES,
        NoticeRsvp.reminded_at.is_(None),
    )
    rows = await session.execute(
        select(Notice).where(
            Notice.rsvp.is_(True),
            Notice.status != CANCELLED,
            Notice.event_at.is_not(None),
            Notice.event_at > now,
            Notice.event_at <= before,
            pending,
        )
    )
    return list(rows.scalars())
