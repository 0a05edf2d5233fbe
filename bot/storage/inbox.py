"""The inbox: record incoming message ids first, then claim each one once.

`record` is what a channel calls before it acknowledges a platform (webhook 200, polling offset);
`claim` runs inside the message's own transaction and marks it done there, so a message is either
fully handled and done, or rolled back and left to be resumed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import InboxEntry


def insert_ignore(session: AsyncSession, model: type, values: dict[str, Any], index_elements: list[str]):  # noqa: ANN201
    """INSERT ... ON CONFLICT DO NOTHING for SQLite and PostgreSQL."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    mod = postgresql if dialect == "postgresql" else sqlite
    return mod.insert(model).values(**values).on_conflict_do_nothing(index_elements=index_elements)


async def record(session: AsyncSession, channel: str, message_id: str, payload: dict[str, Any] | None = None) -> bool:
    """Durably note a message before acknowledging it; False when it was already recorded."""
    result = await session.execute(
        insert_ignore(session, InboxEntry, {"channel": channel, "message_id": message_id, "payload": payload,
                                            "status": "received", "attempts": 0, "received_at": datetime.now(UTC)},
                      ["channel", "message_id"])
    )
    await session.commit()
    return bool(result.rowcount)


async def claim(session: AsyncSession, channel: str, message_id: str) -> bool:
    """Take a message in the current transaction and mark it done; False when already handled.

    One statement: insert the row as done, or flip a recorded (received) row to done and drop its raw
    payload. It is only visible when the message's transaction commits, with everything the message
    changed; a rollback (a crash, an error) leaves a recorded row to be resumed. A row that is done,
    or claimed by a concurrent transaction that then commits, returns nothing.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    mod = postgresql if dialect == "postgresql" else sqlite
    now = datetime.now(UTC)
    stmt = (
        mod.insert(InboxEntry)
        .values(channel=channel, message_id=message_id, status="done", attempts=1, received_at=now, processed_at=now)
        .on_conflict_do_update(
            index_elements=["channel", "message_id"],
            set_={"status": "done", "attempts": InboxEntry.attempts + 1, "payload": None, "processed_at": now},
            where=InboxEntry.status == "received",
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


async def pending(session: AsyncSession, channel: str, limit: int = 100) -> list[InboxEntry]:
    """Recorded but unprocessed messages of a channel, oldest first (resumed after a restart)."""
    rows = await session.execute(
        select(InboxEntry)
        .where(InboxEntry.channel == channel, InboxEntry.status.in_(("received", "processing")))
        .order_by(InboxEntry.id)
        .limit(limit)
    )
    return list(rows.scalars())
