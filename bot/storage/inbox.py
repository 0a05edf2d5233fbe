"""The inbox: record incoming message ids first, then claim each one once.

`record` is what a channel calls before it acknowledges a platform (webhook 200, polling offset);
`claim` runs inside the message's own transaction and marks it done there, so a message is either
fully handled and done, or rolled back and left to be resumed.

A message that keeps failing is not resumed forever: a failed attempt is counted (`note_failure`),
and so is every resume (`pending`); after `MAX_ATTEMPTS` the row is marked failed, its payload
dropped and its last error kept (an exception's type, never its text: no personal data).

These functions take a session and know nothing of concurrency; on SQLite callers write through
the write gate (`bot.storage.gate`, `Services.writing()`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import InboxEntry

MAX_ATTEMPTS = 5  # processing attempts before a recorded message is given up
UNFINISHED = ("received", "processing")  # processing: taken by `pending` for a resume
# The same as `status.in_(UNFINISHED)`, without an expanding IN (re-rendered at every execution).
_unfinished = or_(InboxEntry.status == UNFINISHED[0], InboxEntry.status == UNFINISHED[1])
INTERRUPTED = "interrupted"  # the error of a row given up without a recorded failure (the process died)
MAX_ERROR = 200


def _dialect(session: AsyncSession) -> Any:  # noqa: ANN401
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql if name == "postgresql" else sqlite


def dialect_insert(session: AsyncSession, model: type):  # noqa: ANN201
    """The INSERT construct with ON CONFLICT support for the session's database (SQLite or PostgreSQL)."""
    return _dialect(session).insert(model)


def insert_ignore(session: AsyncSession, model: type, values: dict[str, Any], index_elements: list[str]):  # noqa: ANN201
    """INSERT ... ON CONFLICT DO NOTHING for SQLite and PostgreSQL."""
    return dialect_insert(session, model).values(**values).on_conflict_do_nothing(index_elements=index_elements)


async def record(session: AsyncSession, channel: str, message_id: str, payload: dict[str, Any] | None = None) -> bool:
    """Durably note a message before acknowledging it; False when it was already recorded. Commits."""
    return (await record_many(session, channel, [(message_id, payload)]))[0]


async def record_many(session: AsyncSession, channel: str,
                      items: Sequence[tuple[str, dict[str, Any] | None]]) -> list[bool]:
    """`record` for several (message id, payload) at once: one statement, one commit.

    True for each item that is new; an id already recorded, or repeated in `items`, is False.
    """
    if not items:
        return []
    now = datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}
    for message_id, payload in items:
        rows.setdefault(message_id, {"channel": channel, "message_id": message_id, "payload": payload,
                                     "status": "received", "attempts": 0, "received_at": now})
    # One cached statement with a list of parameters: SQLAlchemy sends it as one multi-row INSERT
    # ("insertmanyvalues"); building a VALUES list per call is several times slower.
    stmt = (dialect_insert(session, InboxEntry)
            .on_conflict_do_nothing(index_elements=["channel", "message_id"])
            .returning(InboxEntry.message_id))
    inserted = set((await session.execute(stmt, list(rows.values()))).scalars())
    await session.commit()
    new = []
    for message_id, _payload in items:
        new.append(message_id in inserted)
        inserted.discard(message_id)
    return new


async def claim(session: AsyncSession, channel: str, message_id: str) -> bool:
    """Take a message in the current transaction and mark it done; False when already handled.

    One statement: insert the row as done, or flip a recorded (unfinished) row to done and drop its
    raw payload. It is only visible when the message's transaction commits, with everything the
    message changed; a rollback (a crash, an error) leaves a recorded row to be resumed. A row that
    is done or failed, or claimed by a concurrent transaction that then commits, returns nothing.
    """
    now = datetime.now(UTC)
    stmt = (
        dialect_insert(session, InboxEntry)
        .values(channel=channel, message_id=message_id, status="done", attempts=1, received_at=now, processed_at=now)
        .on_conflict_do_update(
            index_elements=["channel", "message_id"],
            set_={"status": "done", "attempts": InboxEntry.attempts + 1, "payload": None, "processed_at": now},
            where=_unfinished,
        )
        .returning(InboxEntry.id)
    )
    return (await session.execute(stmt)).first() is not None


async def finish(session: AsyncSession, channel: str, message_id: str) -> None:
    """Mark done and drop the raw payload outside a claim (e.g. an event needing no processing)."""
    await session.execute(
        update(InboxEntry)
        .where(InboxEntry.channel == channel, InboxEntry.message_id == message_id)
        .values(status="done", payload=None, processed_at=datetime.now(UTC))
    )


async def note_failure(session: AsyncSession, channel: str, message_id: str, error: str) -> bool:
    """Count a failed attempt at a recorded message and keep `error`; True when it is now given up.

    `error` must hold no personal data: pass an exception's type, not its message (a database
    error's message can quote the user's text). An attempt taken by `pending` was counted there;
    a first, live attempt (status received) is counted here. At `MAX_ATTEMPTS` the row is marked
    failed and its payload dropped. A message that was never recorded (web chat) is left alone.
    Does not commit.
    """
    entry = (await session.execute(
        select(InboxEntry).where(InboxEntry.channel == channel, InboxEntry.message_id == message_id,
                                 _unfinished)
    )).scalar_one_or_none()
    if entry is None:
        return False
    if entry.status == "received":
        entry.attempts += 1
    entry.error = error[:MAX_ERROR]
    if entry.attempts >= MAX_ATTEMPTS:
        entry.status, entry.payload, entry.processed_at = "failed", None, datetime.now(UTC)
    await session.flush()
    return entry.status == "failed"


async def pending(session: AsyncSession, channel: str, limit: int = 100, after_id: int = 0) -> list[InboxEntry]:
    """Take recorded, unfinished messages of a channel to resume them (after a restart), oldest first.

    Each returned row counts an attempt and is marked `processing`, so a message that kills the
    process whenever it is handled is not resumed at every start forever: a row that has had
    `MAX_ATTEMPTS` attempts is not returned but marked failed, payload dropped, last error kept.
    Page with `after_id`, the id of the last row returned before. Commits.
    """
    now = datetime.now(UTC)
    await session.execute(
        update(InboxEntry)
        .where(InboxEntry.channel == channel, _unfinished,
               InboxEntry.attempts >= MAX_ATTEMPTS)
        .values(status="failed", payload=None, processed_at=now,
                error=func.coalesce(InboxEntry.error, INTERRUPTED)),
        execution_options={"synchronize_session": False},
    )
    rows = list((await session.execute(
        select(InboxEntry)
        .where(InboxEntry.channel == channel, _unfinished, InboxEntry.id > after_id)
        .order_by(InboxEntry.id)
        .limit(limit)
    )).scalars())
    if rows:
        await session.execute(
            update(InboxEntry).where(InboxEntry.id.in_([r.id for r in rows]))
            .values(status="processing", attempts=InboxEntry.attempts + 1),
            execution_options={"synchronize_session": "evaluate"},
        )
    await session.commit()
    return rows
