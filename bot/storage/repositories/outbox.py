"""The outbox: every message the bot sends, as rows the sender core delivers.

Rows are added in the transaction that decided to send them (`add_replies`), so nothing is sent
that was rolled back and nothing committed is lost. One recipient's rows go out in id order and
one at a time across every process: `claim_next` takes only the recipient's oldest unfinished
row, and only when it is queued and due, or its sender's lease has lapsed. A process that dies while
sending leaves a lease that expires; the row is then taken again (sent at least once: a send in
flight at the moment of a kill may go out twice).

Functions take a session; the writing ones commit only where they say so. On SQLite callers
write through the write gate (`bot.storage.gate`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Reply
from bot.storage.models import OutboxEntry

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
DELIVERED, READ = "delivered", "read"
UNFINISHED = (QUEUED, SENDING)
MAX_ERROR = 200

_unfinished = or_(OutboxEntry.status == QUEUED, OutboxEntry.status == SENDING)
_table = OutboxEntry.__table__


@dataclass(frozen=True)
class Claimed:
    """A row taken for sending."""

    id: int
    channel: str
    recipient: str
    reply: Reply
    attempts: int  # including this one
    parts_sent: int


@dataclass(frozen=True)
class Queued:
    """What `add_replies` wrote: the row ids in order, and the rows already taken for sending."""

    ids: list[int]
    claimed: list[Claimed]


def now() -> datetime:
    return datetime.now(UTC)


async def add_replies(
    session: AsyncSession,
    *,
    channel: str,
    recipient: str,
    replies: Sequence[Reply],
    user_id: int | None = None,
    message_id: str | None = None,
    source: str = "reply",
    lease: timedelta | None = None,
) -> Queued:
    """Queue replies for one recipient, in order. Does not commit.

    With `lease`, and when nothing older of the recipient is still to send, the rows are written
    already taken for sending (the fast path: the caller sends them right after the commit, and
    no claim is needed): `Queued.claimed` holds them. Otherwise they wait for `claim_next`.
    """
    if not replies:
        return Queued([], [])
    at = now()
    # created_at a microsecond apart: the rows' order, whatever order RETURNING gives them in.
    rows = [
        _row(channel, recipient, user_id, source, message_id, reply, at + timedelta(microseconds=i))
        for i, reply in enumerate(replies)
    ]
    if lease is None:
        # One cached statement, sent as one multi-row INSERT; rows come back in parameter order.
        result = await session.execute(
            insert(_table).returning(_table.c.id, sort_by_parameter_order=True), rows
        )
        return Queued(list(result.scalars()), [])
    # One INSERT ... SELECT decides for all the rows: taken for sending when nothing of the
    # recipient is unsent, else queued (no separate look first).
    statement, params = _insert_taking(rows, at + lease)
    returned = (await session.execute(statement, params)).all()
    returned.sort(key=lambda r: r.created_at)
    ids = [r.id for r in returned]
    if returned[0].status != SENDING:
        return Queued(ids, [])
    return Queued(
        ids,
        [
            Claimed(id=i, channel=channel, recipient=recipient, reply=r, attempts=1, parts_sent=0)
            for i, r in zip(ids, replies, strict=True)
        ],
    )


def _row(
    channel: str,
    recipient: str,
    user_id: int | None,
    source: str,
    message_id: str | None,
    reply: Reply,
    at: datetime,
) -> dict[str, Any]:
    return {
        "channel": channel,
        "recipient": recipient,
        "user_id": user_id,
        "source": source,
        "message_id": message_id,
        "payload": reply.as_dict(),
        "options": [b.payload for b in reply.buttons] if reply.buttons else None,
        "status": QUEUED,
        "attempts": 0,
        "lease_until": None,
        "parts_sent": 0,
        "due_at": at,
        "created_at": at,
    }


_TAKEN = ("status", "attempts", "lease_until")  # what the INSERT ... SELECT decides
_GIVEN = (
    "channel",
    "recipient",
    "user_id",
    "source",
    "message_id",
    "payload",
    "options",
    "parts_sent",
    "due_at",
    "created_at",
)


@functools.lru_cache(maxsize=8)
def _taking_statement(count: int) -> Any:
    """INSERT `count` rows as `sending` (leased) when their recipient has nothing unsent, else
    queued; RETURNING id, status and created_at. Built once per row count, with typed bound
    parameters, so each use costs one cached execution. The look at the table is one subquery,
    read before any row is written (PostgreSQL reads a snapshot taken at the statement's start;
    SQLite first computes a SELECT that reads the table it inserts into), so every row of the
    call gets the same answer."""
    c = _table.c
    busy = (
        select(c.id)
        .where(
            c.channel == bindparam("busy_channel", type_=c.channel.type),
            c.recipient == bindparam("busy_recipient", type_=c.recipient.type),
            or_(c.status == QUEUED, c.status == SENDING),
        )
        .limit(1)
        .exists()
    )
    lease_until = bindparam("lease_until", type_=c.lease_until.type)
    chosen = [
        select(
            *(bindparam(f"{k}_{i}", type_=c[k].type) for k in _GIVEN),
            case((busy, literal(QUEUED)), else_=literal(SENDING)),
            case((busy, literal(0)), else_=literal(1)),
            case((busy, literal(None, c.lease_until.type)), else_=lease_until),
        )
        for i in range(count)
    ]
    source = chosen[0] if count == 1 else union_all(*chosen)
    return (
        insert(_table)
        .from_select([*_GIVEN, *_TAKEN], source, include_defaults=False)
        .returning(c.id, c.status, c.created_at)
    )


def _insert_taking(rows: list[dict[str, Any]], lease_until: datetime) -> tuple[Any, dict]:
    """The statement and its parameters for `rows` (see `_taking_statement`)."""
    params: dict[str, Any] = {
        "busy_channel": rows[0]["channel"],
        "busy_recipient": rows[0]["recipient"],
        "lease_until": lease_until,
    }
    for i, row in enumerate(rows):
        params.update({f"{k}_{i}": row[k] for k in _GIVEN})
    return _taking_statement(len(rows)), params


async def last_options(session: AsyncSession, channel: str, recipient: str) -> list[str]:
    """The button payloads of the last message sent (or being sent) to the recipient."""
    c = _table.c
    query = (
        select(c.options)
        .where(c.channel == channel, c.recipient == recipient)
        .order_by(c.id.desc())
        .limit(1)
    )
    return list((await session.execute(query)).scalar_one_or_none() or [])


async def ready(session: AsyncSession, channel: str, recipient: str) -> bool:
    """Whether `claim_next` would take a row now (a read: no write lock when there is none)."""
    at = now()
    oldest = (
        select(OutboxEntry.status, OutboxEntry.due_at, OutboxEntry.lease_until)
        .where(OutboxEntry.channel == channel, OutboxEntry.recipient == recipient, _unfinished)
        .order_by(OutboxEntry.id)
        .limit(1)
    )
    row = (await session.execute(oldest)).first()
    if row is None or row.due_at > at:
        return False
    return row.status == QUEUED or (row.lease_until is not None and row.lease_until <= at)


async def claim_next(
    session: AsyncSession, channel: str, recipient: str, lease: timedelta
) -> Claimed | None:
    """Take the recipient's oldest unfinished row if it is due and nobody is sending to them.

    Returns None when there is nothing to send, the oldest row waits for a retry (`due_at`), or
    another sender holds a live lease on a row of this recipient. Commits.
    """
    at = now()
    # The oldest unfinished row, whatever its state: while it is being sent (a live lease) or
    # waits for its retry, nothing later of this recipient may go.
    oldest = (
        select(OutboxEntry.id)
        .where(OutboxEntry.channel == channel, OutboxEntry.recipient == recipient, _unfinished)
        .order_by(OutboxEntry.id)
        .limit(1)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            update(OutboxEntry)
            .where(
                OutboxEntry.id == oldest,
                OutboxEntry.due_at <= at,
                or_(
                    OutboxEntry.status == QUEUED,
                    and_(OutboxEntry.status == SENDING, OutboxEntry.lease_until <= at),
                ),
            )
            .values(status=SENDING, lease_until=at + lease, attempts=OutboxEntry.attempts + 1)
            .returning(
                OutboxEntry.id,
                OutboxEntry.payload,
                OutboxEntry.attempts,
                OutboxEntry.parts_sent,
            )
            .execution_options(synchronize_session=False)
        )
    ).first()
    await session.commit()
    if row is None:
        return None
    return Claimed(
        id=row.id,
        channel=channel,
        recipient=recipient,
        reply=Reply.from_dict(row.payload or {}),
        attempts=row.attempts,
        parts_sent=row.parts_sent,
    )


async def progress(session: AsyncSession, row_id: int, parts_sent: int, lease: timedelta) -> None:
    """Note that the first `parts_sent` parts of a row went out, and renew its lease. Commits."""
    await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == row_id)
        .values(parts_sent=parts_sent, lease_until=now() + lease)
    )
    await session.commit()


async def mark_sent(
    session: AsyncSession, row_ids: Sequence[int], platform_ref: str | None = None
) -> None:
    """Sent: drop the payload (it may quote the user's data). Commits."""
    await mark_sent_many(session, [(row_id, platform_ref) for row_id in row_ids])


# A Core statement: a list of parameters makes it one executemany (the ORM form would be a
# bulk update by primary key, which cannot keep a stored platform_ref).
_MARK_SENT = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"))
    .values(
        status=SENT,
        payload=None,
        lease_until=None,
        error=None,
        sent_at=bindparam("sent_at"),
        platform_ref=func.coalesce(bindparam("ref"), _table.c.platform_ref),
    )
)


async def mark_sent_many(session: AsyncSession, sent: Sequence[tuple[int, str | None]]) -> None:
    """Several rows sent, each with the platform's message id (or None), in one statement (an
    executemany). Commits."""
    if not sent:
        return
    at = now()
    params = [
        {"row_id": row_id, "ref": None if ref is None else ref[:128], "sent_at": at}
        for row_id, ref in sent
    ]
    await session.execute(_MARK_SENT, params)
    await session.commit()


async def release_leases(session: AsyncSession) -> int:
    """Hand every row being sent back to the queue: at the start of the one process a SQLite
    database has, every lease is a dead process's. Commits."""
    result = await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.status == SENDING)
        .values(status=QUEUED, lease_until=None)
    )
    await session.commit()
    return result.rowcount or 0


async def retry_later(session: AsyncSession, row_id: int, delay: float, error: str) -> datetime:
    """Back to the queue, due after `delay` seconds; when it is due. Commits."""
    due = now() + timedelta(seconds=max(0.0, delay))
    await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == row_id)
        .values(status=QUEUED, due_at=due, lease_until=None, error=error[:MAX_ERROR])
    )
    await session.commit()
    return due


async def release(session: AsyncSession, row_ids: Sequence[int]) -> None:
    """Rows taken but not tried (an earlier row of the recipient failed): back to the queue,
    their attempt not counted. Commits."""
    if row_ids:
        await session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(list(row_ids)), OutboxEntry.status == SENDING)
            .values(status=QUEUED, lease_until=None, attempts=OutboxEntry.attempts - 1)
        )
    await session.commit()


async def mark_failed(
    session: AsyncSession, row_id: int, error: str, reason: str | None = None
) -> None:
    """Given up for good, with the error and (`REASONS`) the reason staff count by; the payload
    is dropped. Does not commit."""
    await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == row_id)
        .values(
            status=FAILED, payload=None, lease_until=None, error=error[:MAX_ERROR], reason=reason
        )
    )


async def fail_unfinished(session: AsyncSession, channel: str, recipient: str, error: str) -> int:
    """Fail every unsent row of a recipient (the contact is gone: reason "blocked"); how many.
    Does not commit."""
    result = await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.channel == channel, OutboxEntry.recipient == recipient, _unfinished)
        .values(
            status=FAILED, payload=None, lease_until=None, error=error[:MAX_ERROR], reason=BLOCKED
        )
    )
    return result.rowcount or 0


async def due_recipients(
    session: AsyncSession, channels: Sequence[str], limit: int = 200
) -> list[tuple[str, str]]:
    """(channel, recipient) pairs with a row ready to send: queued and due, or a lapsed lease."""
    at = now()
    rows = await session.execute(
        select(OutboxEntry.channel, OutboxEntry.recipient)
        .where(
            OutboxEntry.channel.in_(list(channels)),
            or_(
                and_(OutboxEntry.status == QUEUED, OutboxEntry.due_at <= at),
                and_(OutboxEntry.status == SENDING, OutboxEntry.lease_until <= at),
            ),
        )
        .group_by(OutboxEntry.channel, OutboxEntry.recipient)
        .order_by(func.min(OutboxEntry.id))
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


async def unsent_replies(
    session: AsyncSession, channel: str, recipient: str, message_id: str
) -> list[tuple[int, Reply]]:
    """The replies to one message not yet handed over (a pull channel's retried request)."""
    rows = await session.execute(
        select(OutboxEntry.id, OutboxEntry.payload)
        .where(
            OutboxEntry.channel == channel,
            OutboxEntry.recipient == recipient,
            OutboxEntry.message_id == message_id,
            _unfinished,
            OutboxEntry.payload.is_not(None),
        )
        .order_by(OutboxEntry.id)
    )
    return [(r.id, Reply.from_dict(r.payload)) for r in rows]


async def mark_receipt(
    session: AsyncSession, channel: str, platform_refs: Sequence[str], state: str
) -> int:
    """A platform's delivery or read receipt for sent rows; how many changed. Does not commit."""
    if not platform_refs:
        return 0
    allowed = (SENT,) if state == DELIVERED else (SENT, DELIVERED)
    result = await session.execute(
        update(OutboxEntry)
        .where(
            OutboxEntry.channel == channel,
            OutboxEntry.platform_ref.in_([str(r)[:128] for r in platform_refs]),
            OutboxEntry.status.in_(allowed),
        )
        .values(status=state)
    )
    return result.rowcount or 0


async def forget_recipient(session: AsyncSession, channel: str, recipient: str) -> None:
    """Delete a recipient's finished rows (delete-my-data); unsent rows still go. No commit."""
    await session.execute(
        delete(OutboxEntry).where(
            OutboxEntry.channel == channel,
            OutboxEntry.recipient == recipient,
            ~_unfinished,
        )
    )


async def states(
    session: AsyncSession, row_ids: Sequence[int]
) -> dict[int, tuple[str, str | None]]:
    """(status, error) of rows."""
    rows = await session.execute(
        select(OutboxEntry.id, OutboxEntry.status, OutboxEntry.error).where(
            OutboxEntry.id.in_(list(row_ids))
        )
    )
    return {r.id: (r.status, r.error) for r in rows}


async def unfinished_count(session: AsyncSession, channels: Sequence[str] | None = None) -> int:
    """Rows still to send (queued or being sent)."""
    query = select(func.count()).select_from(OutboxEntry).where(_unfinished)
    if channels is not None:
        query = query.where(OutboxEntry.channel.in_(list(channels)))
    return (await session.execute(query)).scalar_one()


# ---------------------------------------------------------------------------- notices (fan-out)

# Why a row failed, as staff count it (`reason`); `error` keeps the platform's own words.
OUTSIDE_WINDOW = "outside_window"  # Zalo: not within the user's reply window, no quota to use
QUOTA_SPENT = "quota_spent"  # Zalo: outside the window, and the month's proactive quota is spent
BLOCKED = "blocked"  # the user blocked the bot / unfollowed the OA
CANCELLED = "cancelled"  # the notice was cancelled before this row went
RETRIES_EXHAUSTED = "retries_exhausted"  # transient failures, every attempt used
REFUSED = "refused"  # the platform refused this message for good (a permanent error)
UNRENDERABLE = "unrenderable"  # the channel cannot render the message
REASONS = (
    OUTSIDE_WINDOW,
    QUOTA_SPENT,
    BLOCKED,
    CANCELLED,
    RETRIES_EXHAUSTED,
    REFUSED,
    UNRENDERABLE,
)

CHUNK = 1000  # rows per INSERT statement of `add_many`


async def add_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Queue many rows at once (a notice's fan-out: one row per recipient), in chunks of
    `CHUNK` rows per executemany; how many. Does not commit: the caller writes the notice in the
    same transaction.

    Each row: `channel`, `recipient`, `reply` (a bot.messages.Reply), and optionally `user_id`,
    `source` ("notice"), `notice_id`, `priority` (higher goes first), `use_quota` (a Zalo row
    outside the reply window may spend the month's proactive quota), `due_at` (scheduled)."""
    at = now()
    payloads: dict[int, tuple[dict[str, Any], list[str] | None]] = {}  # one per Reply object
    chunk: list[dict[str, Any]] = []
    count = 0
    for row in rows:
        reply: Reply = row["reply"]
        rendered = payloads.get(id(reply))
        if rendered is None:
            rendered = payloads[id(reply)] = (
                reply.as_dict(),
                [b.payload for b in reply.buttons] if reply.buttons else None,
            )
        chunk.append(
            {
                "channel": row["channel"],
                "recipient": row["recipient"],
                "user_id": row.get("user_id"),
                "source": row.get("source", "notice"),
                "message_id": None,
                "payload": rendered[0],
                "options": rendered[1],
                "status": QUEUED,
                "attempts": 0,
                "lease_until": None,
                "parts_sent": 0,
                "due_at": row.get("due_at") or at,
                "created_at": at,
                "priority": int(row.get("priority", 0)),
                "notice_id": row.get("notice_id"),
                "use_quota": bool(row.get("use_quota", False)),
                "reason": None,
            }
        )
        if len(chunk) >= CHUNK:
            await session.execute(insert(_table), chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        await session.execute(insert(_table), chunk)
        count += len(chunk)
    return count


async def cancel_notice(session: AsyncSession, notice_id: int) -> int:
    """A notice cancelled: its queued rows fail with reason "cancelled" (rows being sent
    finish); how many. Does not commit."""
    result = await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.notice_id == notice_id, OutboxEntry.status == QUEUED)
        .values(status=FAILED, payload=None, lease_until=None, error=CANCELLED, reason=CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def notice_states(session: AsyncSession, notice_id: int) -> dict[tuple[str, str | None], int]:
    """A notice's rows counted by (status, reason): queued, sending, sent, delivered, read, and
    failed by reason (None for a row failed before reasons were kept)."""
    rows = await session.execute(
        select(OutboxEntry.status, OutboxEntry.reason, func.count())
        .where(OutboxEntry.notice_id == notice_id)
        .group_by(OutboxEntry.status, OutboxEntry.reason)
    )
    return {(r[0], r[1]): r[2] for r in rows}


@dataclass(frozen=True)
class Leased(Claimed):
    """A row a dispatcher leased from the queue: with what delivery needs to know of it."""

    notice_id: int | None = None
    priority: int = 0
    use_quota: bool = False


_QUEUED_LITERAL = literal_column("'queued'")  # a literal: the partial index's predicate matches


async def lease_batch(
    session: AsyncSession, channel: str, limit: int, lease: timedelta
) -> list[Leased]:
    """Take up to `limit` due rows of `channel` for sending, highest priority first, then oldest;
    only each recipient's oldest unfinished row (one recipient's rows go in order, one at a
    time). On PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED`: dispatchers leasing at
    the same moment get different rows, none waits for another. Commits."""
    if limit <= 0:
        return []
    at = now()
    o, p = _table.alias("o"), _table.alias("p")
    # The recipient's oldest unfinished row, as a correlated subquery run per candidate (an
    # index lookup on (channel, recipient, status)): a plan that stays cheap whatever the
    # planner's row estimates (an anti-join over a table just filled can go quadratic).
    oldest = (
        select(func.min(p.c.id))
        .where(
            p.c.channel == o.c.channel,
            p.c.recipient == o.c.recipient,
            or_(p.c.status == QUEUED, p.c.status == SENDING),
        )
        .scalar_subquery()
    )
    candidates = (
        select(o.c.id)
        .where(o.c.status == _QUEUED_LITERAL, o.c.channel == channel, o.c.due_at <= at)
        .where(o.c.id == oldest)
        .order_by(o.c.priority.desc(), o.c.id)
        .limit(limit)
    )
    c = _table.c
    returning = (
        c.id,
        c.recipient,
        c.payload,
        c.attempts,
        c.parts_sent,
        c.notice_id,
        c.priority,
        c.use_quota,
    )
    values = {"status": SENDING, "lease_until": at + lease, "attempts": c.attempts + 1}
    if session.bind.dialect.name == "postgresql":
        # Picked once (a materialised CTE), locked FOR UPDATE SKIP LOCKED: two dispatchers
        # leasing at the same moment get different rows, and neither waits for the other.
        picked = (
            candidates.with_for_update(skip_locked=True, of=o)
            .cte("picked")
            .prefix_with("MATERIALIZED")
        )
        statement = update(_table).where(c.id == picked.c.id, c.status == QUEUED)
    else:  # one writer at a time (the write gate): the subquery runs once, before the update
        statement = update(_table).where(c.id.in_(candidates.scalar_subquery()), c.status == QUEUED)
    rows = (
        await session.execute(
            statement.values(**values)
            .returning(*returning)
            .execution_options(synchronize_session=False)
        )
    ).all()
    await session.commit()
    rows.sort(key=lambda r: (-r.priority, r.id))
    return [
        Leased(
            id=r.id,
            channel=channel,
            recipient=r.recipient,
            reply=Reply.from_dict(r.payload or {}),
            attempts=r.attempts,
            parts_sent=r.parts_sent,
            notice_id=r.notice_id,
            priority=r.priority,
            use_quota=bool(r.use_quota),
        )
        for r in rows
    ]


async def requeue_lapsed(session: AsyncSession, channels: Sequence[str]) -> int:
    """Rows whose sender's lease lapsed (a dead or stuck process): back to the queue, for
    `lease_batch` to take (their attempt stays counted). Commits."""
    at = now()
    result = await session.execute(
        update(OutboxEntry)
        .where(
            OutboxEntry.status == SENDING,
            OutboxEntry.lease_until <= at,
            OutboxEntry.channel.in_(list(channels)),
        )
        .values(status=QUEUED, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return result.rowcount or 0


async def set_reason(session: AsyncSession, row_id: int, reason: str) -> None:
    """Record why a failed row failed (one of `REASONS`). Does not commit."""
    await session.execute(
        update(OutboxEntry).where(OutboxEntry.id == row_id).values(reason=reason[:40])
    )


async def fail_reason(session: AsyncSession, row_id: int, reason: str, error: str) -> None:
    """Failed for good with a reason staff count (`REASONS`) and the platform's words. Commits."""
    await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == row_id)
        .values(
            status=FAILED,
            payload=None,
            lease_until=None,
            error=error[:MAX_ERROR],
            reason=reason[:40],
        )
    )
    await session.commit()


async def sent_since(session: AsyncSession, channel: str, recipient: str, since: datetime) -> int:
    """Messages sent to a recipient since `since` (a Zalo reply window's count)."""
    result = await session.execute(
        select(func.count())
        .select_from(OutboxEntry)
        .where(
            OutboxEntry.channel == channel,
            OutboxEntry.recipient == recipient,
            OutboxEntry.status.in_((SENT, DELIVERED, READ)),
            OutboxEntry.sent_at >= since,
        )
    )
    return result.scalar_one()


async def pending_work(session: AsyncSession, channels: Sequence[str]) -> tuple[set[str], bool]:
    """A read before the dispatcher writes anything: the channels with a due queued row, and
    whether any row's lease lapsed (so an idle dispatcher takes no write lock)."""
    at = now()
    due: set[str] = set()
    for channel in channels:
        found = await session.execute(
            select(OutboxEntry.id)
            .where(
                OutboxEntry.status == _QUEUED_LITERAL,
                OutboxEntry.channel == channel,
                OutboxEntry.due_at <= at,
            )
            .limit(1)
        )
        if found.first() is not None:
            due.add(channel)
    lapsed = await session.execute(
        select(OutboxEntry.id)
        .where(
            OutboxEntry.status == SENDING,
            OutboxEntry.lease_until <= at,
            OutboxEntry.channel.in_(list(channels)),
        )
        .limit(1)
    )
    return due, lapsed.first() is not None


async def renew(session: AsyncSession, row_id: int, attempts: int, lease: timedelta) -> bool:
    """Extend a lease still held: the row is being sent and nobody took it since (its attempt
    count is the one the caller leased it with). False when the lease lapsed and the row went
    back to the queue or to another sender: the caller must not send it. Commits."""
    result = await session.execute(
        update(OutboxEntry)
        .where(
            OutboxEntry.id == row_id,
            OutboxEntry.status == SENDING,
            OutboxEntry.attempts == attempts,
        )
        .values(lease_until=now() + lease)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return (result.rowcount or 0) == 1
