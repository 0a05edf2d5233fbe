"""The inbox: record incoming message ids first, then claim each one once.

`record` is what a channel calls before it acknowledges a platform (webhook 200, polling offset);
`claim` runs inside the message's own transaction and marks it done there, so a message is either
fully handled and done, or rolled back and left to be resumed.

A message that keeps failing is not resumed forever: a failed attempt is counted (`note_failure`),
and so is every resume (`pending`); after `MAX_ATTEMPTS` the row is marked failed, its payload
dropped and its last error kept (an exception's type, never its text: no personal data).

A payload its channel cannot read (a malformed update with a valid secret) is recorded once with
status `rejected` (`record_many(..., rejected=...)`, keyed by a hash of its content): so it is
acknowledged and not sent again, and is never claimed nor resumed.

These functions take a session and know nothing of concurrency; on SQLite callers write through
the write gate (`bot.storage.gate`, `Services.writing()`). The inbound worker
(`bot.inbound.worker`) is their one caller outside the pipeline.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.storage.dialect import dialect_name
from bot.storage.models import InboxEntry

MAX_ATTEMPTS = 5  # processing attempts before a recorded message is given up
UNFINISHED = ("received", "processing")  # processing: taken by `pending` for a resume
# The same as `status.in_(UNFINISHED)`, without an expanding IN (re-rendered at every execution).
_unfinished = or_(InboxEntry.status == UNFINISHED[0], InboxEntry.status == UNFINISHED[1])
INTERRUPTED = (
    "interrupted"  # the error of a row given up without a recorded failure (the process died)
)
MAX_ERROR = 200


Record = tuple[str, str | None, dict[str, Any] | None]  # (message id, sender id, payload)
Rejected = tuple[str, Any, str]  # (key, payload, reason): a payload its channel cannot read
REJECTED = "rejected"  # a payload recorded so it is acknowledged once, and never handled


def rejected_key(payload: Any) -> str:
    """The inbox key of a payload its channel cannot read: a hash of its content (a malformed
    update may have no usable id), the same at every redelivery."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=repr)
    return "rejected:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


async def record(
    session: AsyncSession,
    channel: str,
    message_id: str,
    payload: dict[str, Any] | None = None,
    sender: str | None = None,
) -> bool:
    """Durably note a message before acknowledging it; False when it was already recorded.
    Commits."""
    return (await record_many(session, channel, [(message_id, sender, payload)]))[0]


async def record_many(
    session: AsyncSession,
    channel: str,
    items: Sequence[Record],
    rejected: Sequence[Rejected] = (),
    erased: Mapping[str, str] | None = None,
) -> list[bool]:
    """`record` for several (message id, sender, payload) at once: one statement, one commit.

    `erased` maps the keys that name their sender (Zalo events without a `msg_id`) to what an
    erasure turns them into (`personal.erased_key`): a key whose erased twin is recorded was
    handled before its sender deleted their data, so its redelivery is not new either (it would
    otherwise be handled again and store the person anew).
    True for each item that is new; an id already recorded, or repeated in `items`, is False.
    `rejected` payloads (key, payload, reason) go in the same statement with status
    `rejected`, the reason as their error and no sender: they are never claimed nor resumed
    (not unfinished), and a redelivery of one is a conflict like any other. Their payload is
    kept like any recorded payload (the retention job removes it).
    """
    return (await record_batch(session, [(channel, items, rejected, erased)]))[0]


# What one caller records (`record_batch`): channel, items, rejected payloads, erased twins.
Batch = tuple[str, Sequence[Record], Sequence[Rejected], Mapping[str, str] | None]


async def record_batch(session: AsyncSession, batches: Sequence[Batch]) -> list[list[bool]]:
    """`record_many` for several callers at once (webhook requests that came together, of any
    channels): one INSERT for all their rows, one commit; for each batch, its `record_many`
    answer. A key in two batches is new for the first only, as if they had been recorded one
    after the other."""
    if not any(items or rejected for _c, items, rejected, _e in batches):
        return [[] for _b in batches]
    now = datetime.now(UTC)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    gone: set[tuple[str, str]] = set()
    for channel, _items, _rejected, erased in batches:
        if erased:
            gone.update((channel, k) for k in await _erased_twins(session, channel, erased))
    for channel, items, rejected, _erased in batches:
        for message_id, sender, payload in items:
            if (channel, message_id) in gone:
                continue
            rows.setdefault(
                (channel, message_id),
                {
                    "channel": channel,
                    "message_id": message_id,
                    "sender": sender,
                    "payload": payload,
                    "status": "received",
                    "attempts": 0,
                    "error": None,
                    "received_at": now,
                    "processed_at": None,
                },
            )
        for key, payload, reason in rejected:
            rows.setdefault(
                (channel, key),
                {
                    "channel": channel,
                    "message_id": key,
                    "sender": None,
                    "payload": payload,
                    "status": REJECTED,
                    "attempts": 0,
                    "error": reason[:MAX_ERROR],
                    "received_at": now,
                    "processed_at": now,
                },
            )
    inserted: set[tuple[str, str]] = set()
    # One cached statement with a list of parameters: SQLAlchemy sends it as one multi-row INSERT
    # ("insertmanyvalues"); building a VALUES list per call is several times slower.
    if rows:  # else all of them redeliveries of erased keys
        stmt = _record_statement(dialect_name(session))
        inserted = {(r[0], r[1]) for r in await session.execute(stmt, list(rows.values()))}
    await session.commit()
    out = []
    for channel, items, _rejected, _erased in batches:
        new = []
        for message_id, _sender, _payload in items:
            new.append((channel, message_id) in inserted)
            inserted.discard((channel, message_id))
        out.append(new)
    return out


async def claim(session: AsyncSession, channel: str, message_id: str) -> bool:
    """Take a message in the current transaction and mark it done; False when already handled,
    or when an older unfinished message of the same sender must go first (`waiting` tells).

    One statement: insert the row as done, or flip a recorded (unfinished) row to done and drop its
    raw payload. It is only visible when the message's transaction commits, with everything the
    message changed; a rollback (a crash, an error) leaves a recorded row to be resumed. A row that
    is done or failed, or claimed by a concurrent transaction that then commits, returns nothing.
    """
    at = datetime.now(UTC)
    params = {"claim_channel": channel, "claim_message_id": message_id, "claim_now": at}
    statement = _claim_statement(dialect_name(session))
    return (await session.execute(statement, params)).first() is not None


# Core statements on the table, built once per dialect with their values bound at execution: the
# ORM-enabled form of the same INSERT (`insert(InboxEntry)`) goes through the ORM's bulk-insert
# layer at every execution, measured at a third of a claim's cost (0.45 of 1.3 ms CPU on SQLite);
# both are on every message's path (the webhook's record, the turn's claim).
_table = InboxEntry.__table__


async def _erased_twins(session: AsyncSession, channel: str, erased: Mapping[str, str]) -> set[str]:
    """The keys of `erased` whose erased twin is recorded."""
    by_twin = {twin: key for key, twin in erased.items()}
    found = await session.execute(
        select(InboxEntry.message_id).where(
            InboxEntry.channel == channel, InboxEntry.message_id.in_(list(by_twin))
        )
    )
    return {by_twin[twin] for twin in found.scalars()}


def _insert(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(_table)


@functools.cache
def _record_statement(dialect: str) -> Any:
    return (
        _insert(dialect)
        .on_conflict_do_nothing(index_elements=["channel", "message_id"])
        .returning(_table.c.channel, _table.c.message_id)
    )


@functools.cache
def _claim_statement(dialect: str) -> Any:
    """Insert the row as done, or flip a recorded, unfinished row whose sender has no older
    unfinished message to done (see `claim`); RETURNING its id."""
    at = bindparam("claim_now", type_=_table.c.processed_at.type)
    return (
        _insert(dialect)
        .values(
            channel=bindparam("claim_channel", type_=_table.c.channel.type),
            message_id=bindparam("claim_message_id", type_=_table.c.message_id.type),
            status="done",
            attempts=1,
            received_at=at,
            processed_at=at,
        )
        .on_conflict_do_update(
            index_elements=["channel", "message_id"],
            set_={
                "status": "done",
                "attempts": _table.c.attempts + 1,
                "payload": None,
                "sender": None,
                "processed_at": at,
            },
            where=and_(_unfinished, ~_older_waiting),
        )
        .returning(_table.c.id)
    )


_older = aliased(InboxEntry)
# An unfinished message of the same sender recorded before the row being claimed: it goes first.
# The claimed row is named as the upsert's target (`inbox`): SQLAlchemy does not correlate a
# subquery into ON CONFLICT ... WHERE, and would add a second, unrelated copy of the table.
_target = {
    name: literal_column(f"{InboxEntry.__tablename__}.{name}")
    for name in ("channel", "sender", "id")
}
_older_waiting = (
    select(_older.id)
    .where(
        _older.channel == _target["channel"],
        _older.sender == _target["sender"],
        or_(_older.status == UNFINISHED[0], _older.status == UNFINISHED[1]),
        _older.id < _target["id"],
    )
    .exists()
)


async def waiting(session: AsyncSession, channel: str, message_id: str) -> bool:
    """Whether a recorded message is still unfinished (a refused claim: an older one of its
    sender goes first) rather than done or failed."""
    status = (
        await session.execute(
            select(InboxEntry.status).where(
                InboxEntry.channel == channel, InboxEntry.message_id == message_id
            )
        )
    ).scalar_one_or_none()
    return status in UNFINISHED


async def note_failure(session: AsyncSession, channel: str, message_id: str, error: str) -> bool:
    """Count a failed attempt at a recorded message and keep `error`; True when it is now given up.

    `error` must hold no personal data: pass an exception's type, not its message (a database
    error's message can quote the user's text). An attempt taken by `pending` was counted there;
    a first, live attempt (status received) is counted here. At `MAX_ATTEMPTS` the row is marked
    failed and its payload dropped. A message that was never recorded (web chat) is left alone.
    Does not commit.
    """
    entry = (
        await session.execute(
            select(InboxEntry).where(
                InboxEntry.channel == channel, InboxEntry.message_id == message_id, _unfinished
            )
        )
    ).scalar_one_or_none()
    if entry is None:
        return False
    if entry.status == "received":
        entry.attempts += 1
    else:  # taken by `pending`, which counted this attempt: live retries count from here on
        entry.status = "received"
    entry.error = error[:MAX_ERROR]
    if entry.attempts >= MAX_ATTEMPTS:
        entry.status, entry.payload, entry.processed_at = "failed", None, datetime.now(UTC)
        entry.sender = None
    await session.flush()
    return entry.status == "failed"


async def pending(
    session: AsyncSession,
    channels: Sequence[str],
    limit: int = 100,
    after_id: int = 0,
    received_before: datetime | None = None,
    exclude: Collection[tuple[str, str]] = (),
) -> list[InboxEntry]:
    """Take recorded, unfinished messages of `channels` to resume them, oldest first.

    At start every unfinished row is taken; the worker's periodic sweep passes
    `received_before` to take only rows left behind (by a failure or another process's crash),
    and `exclude`s the (channel, message id) it is already handling: a message waiting in line
    is not left behind, and must not have its attempts spent.

    Each returned row counts an attempt and is marked `processing`, so a message that kills the
    process whenever it is handled is not resumed at every start forever: a row that has had
    `MAX_ATTEMPTS` attempts is not returned but marked failed, payload dropped, last error kept.
    Page with `after_id`, the id of the last row returned before. Commits.
    """
    now = datetime.now(UTC)
    scope = [InboxEntry.channel.in_(list(channels)), _unfinished]
    if received_before is not None:
        scope.append(InboxEntry.received_at < received_before)
    if exclude:
        scope.append(~tuple_(InboxEntry.channel, InboxEntry.message_id).in_(list(exclude)))
    await session.execute(
        update(InboxEntry)
        .where(*scope, InboxEntry.attempts >= MAX_ATTEMPTS)
        .values(
            status="failed",
            payload=None,
            sender=None,
            processed_at=now,
            error=func.coalesce(InboxEntry.error, INTERRUPTED),
        ),
        execution_options={"synchronize_session": False},
    )
    query = select(InboxEntry).where(*scope, InboxEntry.id > after_id)
    rows = list((await session.execute(query.order_by(InboxEntry.id).limit(limit))).scalars())
    if rows:
        # Still unfinished: a turn may have claimed one since the select (done must stay done).
        taken = set(
            (
                await session.execute(
                    update(InboxEntry)
                    .where(InboxEntry.id.in_([r.id for r in rows]), _unfinished)
                    .values(status="processing", attempts=InboxEntry.attempts + 1)
                    .returning(InboxEntry.id),
                    execution_options={"synchronize_session": False},
                )
            ).scalars()
        )
        rows = [r for r in rows if r.id in taken]
    await session.commit()
    return rows


async def next_unfinished(
    session: AsyncSession, channel: str, sender: str, upto_message_id: str
) -> InboxEntry | None:
    """The sender's oldest unfinished message recorded no later than `upto_message_id`.

    What the inbound worker handles next for this user: messages go in the order they were
    recorded, whichever process recorded them.
    """
    upto = (
        select(InboxEntry.id)
        .where(InboxEntry.channel == channel, InboxEntry.message_id == upto_message_id)
        .scalar_subquery()
    )
    return (
        await session.execute(
            select(InboxEntry)
            .where(
                InboxEntry.channel == channel,
                InboxEntry.sender == sender,
                _unfinished,
                InboxEntry.id <= upto,
            )
            .order_by(InboxEntry.id)
            .limit(1)
        )
    ).scalar_one_or_none()


async def mark(
    session: AsyncSession, channel: str, message_id: str, status: str, error: str | None = None
) -> None:
    """Close a recorded message outside a turn (unreadable payload...). Does not commit."""
    await session.execute(
        update(InboxEntry)
        .where(InboxEntry.channel == channel, InboxEntry.message_id == message_id)
        .values(
            status=status,
            error=None if error is None else error[:MAX_ERROR],
            payload=None,
            sender=None,
            processed_at=datetime.now(UTC),
        )
    )


async def get(session: AsyncSession, channel: str, message_id: str) -> InboxEntry | None:
    return (
        await session.execute(
            select(InboxEntry).where(
                InboxEntry.channel == channel, InboxEntry.message_id == message_id
            )
        )
    ).scalar_one_or_none()
