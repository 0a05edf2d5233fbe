"""One user's messages one at a time, in order: in process, and across processes on PostgreSQL.

`Ordering.hold(key)` is an in-process FIFO lock per user (channel, sender id). On PostgreSQL,
`Ordering.lock(session, key)` also takes a transaction-scoped advisory lock
(`pg_advisory_xact_lock`) on a 64-bit hash of the key inside the message's transaction, so N bot
processes on one database never handle one user's messages at the same time. Order comes from
the inbox: the inbound worker handles a user's oldest unfinished message first
(`bot.inbound.worker`), so whichever process holds the lock takes them in the order they were
recorded. On SQLite (one process) the advisory lock is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.dialect import dialect_name


class KeyedLock:
    """One FIFO lock per key, made on first use and dropped when nobody holds or waits for it.

    Re-entrant within a task: the inbound worker holds a user's lock across several turns, each of
    which takes it too. A task must not wait for another task that needs the same key.
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, _KeyEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        task = asyncio.current_task()
        entry = self._entries.get(key)
        if entry is not None and task is not None and entry.owner is task:
            yield
            return
        if entry is None:
            entry = self._entries[key] = _KeyEntry()
        entry.users += 1
        try:
            async with entry.lock:
                entry.owner = task
                try:
                    yield
                finally:
                    entry.owner = None
        finally:
            entry.users -= 1
            if not entry.users:
                del self._entries[key]


@dataclass
class _KeyEntry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting
    owner: asyncio.Task | None = None


def advisory_key(channel: str, sender_id: str) -> int:
    """A signed 64-bit key for pg_advisory_xact_lock, the same in every process."""
    digest = hashlib.blake2b(f"{channel}\x00{sender_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_ADVISORY = text("SELECT pg_advisory_xact_lock(:key)")


class Ordering:
    """Per-user turns: `hold` in process, `lock` in the database transaction (PostgreSQL)."""

    def __init__(self) -> None:
        self.local = KeyedLock()

    def hold(self, channel: str, sender_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self.local.hold((channel, sender_id))

    async def lock(self, session: AsyncSession, channel: str, sender_id: str) -> None:
        """Take the user's cross-process lock until the session's transaction ends."""
        if dialect_name(session) == "postgresql":
            await session.execute(_ADVISORY, {"key": advisory_key(channel, sender_id)})
