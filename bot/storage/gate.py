"""The write gate: who may write to the database now. One gate per database engine, shared by every
writer in the process (pipeline turns, inbox records, marking a user unreachable...).

SQLite has one writer at a time. A pipeline turn takes SQLite's write lock at its first statement
(the inbox claim) and keeps it until it commits, through the NLU. Another writer meanwhile waits in
SQLite's busy handler, which sleeps and polls, in no particular order: under a burst a webhook's
insert-before-200 can lose for seconds, and fail with "database is locked" after `busy_timeout`.
So on SQLite every writer of the process queues on one in-process lock instead, first come first
served, and only one turn at a time may queue for it: a record waits behind at most the turn that
is running and the records that came before it, never behind a backlog of turns.

PostgreSQL takes writers side by side. There only the number of concurrent turns is limited, below
the connection pool's size so that short writes (inbox records) always find a connection; short
writes are not gated.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# Turns at once on a server database. The built-in NLU runs on the bot's event loop, so more turns
# only overlap database round trips and take CPU and pool connections from the webhooks' records:
# measured with benchmarks.bench_zalo / bench_telegram, 8 turns answered webhooks a third slower
# than 4 and replied no faster. An NLU that waits on the network (Rasa) may want more:
# `database.max_transactions`.
SERVER_TRANSACTIONS = 4
POOL_RESERVE = 2  # pool connections left to short writes (inbox records, tokens, unreachable users)

_gates: weakref.WeakKeyDictionary[Any, WriteGate] = weakref.WeakKeyDictionary()


def default_transactions(engine: Any) -> int:
    """Turns at once: 1 on SQLite; on a server database 4, fewer if the pool is smaller."""
    if engine.dialect.name == "sqlite":
        return 1
    pool = engine.pool
    size, overflow = getattr(pool, "size", None), getattr(pool, "_max_overflow", 0)
    if not callable(size) or overflow < 0:  # not a queue pool, or unlimited overflow
        return SERVER_TRANSACTIONS
    return max(1, min(SERVER_TRANSACTIONS, size() + overflow - POOL_RESERVE))


class WriteGate:
    """Turns (`transaction()`) and short writes (`write()`) of one database, in turn where it
    matters.

    Get the shared one with `WriteGate.of(sessionmaker)`. Both context managers are re-entrant for
    the short write inside a turn (the turn already holds the writer); a turn must not start
    another.
    """

    def __init__(self, sqlite: bool, transactions: int) -> None:
        self.sqlite = sqlite
        self._writer: asyncio.Lock | None = asyncio.Lock() if sqlite else None
        self._owner: asyncio.Task | None = None
        self.limit(transactions)

    @classmethod
    def of(cls, bind: Any) -> WriteGate:
        """The gate of a database: `bind` is an async_sessionmaker, an AsyncEngine or an Engine."""
        kw = getattr(bind, "kw", None)
        if isinstance(kw, dict):  # a sessionmaker
            bind = kw.get("bind")
        engine = getattr(bind, "sync_engine", bind)
        if engine is None:  # no engine to share a gate on: not gated
            return cls(sqlite=False, transactions=SERVER_TRANSACTIONS)
        gate = _gates.get(engine)
        if gate is None:
            gate = _gates[engine] = cls(
                engine.dialect.name == "sqlite", default_transactions(engine)
            )
        return gate

    @property
    def transactions(self) -> int:
        """How many turns may run at once."""
        return self._transactions

    def limit(self, transactions: int) -> None:
        """Set how many turns may run at once (before messages flow: running turns keep the old
        limit)."""
        if transactions < 1:
            raise ValueError(f"transactions: expected at least 1, got {transactions}")
        self._transactions = transactions
        self._slots = asyncio.Semaphore(transactions)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Hold for a pipeline turn: a slot among the turns, then (SQLite) the writer."""
        async with self._slots, self.write():
            yield

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        """Hold for a short write: on SQLite the writer, first come first served; elsewhere
        nothing."""
        task = asyncio.current_task()
        if self._writer is None or (task is not None and self._owner is task):
            yield
            return
        async with self._writer:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None


@contextlib.asynccontextmanager
async def writing(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for a short write (a record, a status), taking its turn with every other writer."""
    async with WriteGate.of(sessionmaker).write(), sessionmaker() as session:
        yield session
