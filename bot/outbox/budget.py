"""A channel's send rate, shared by every dispatcher through the database.

One row per channel (`send_budget`) holds the next free send slot, in seconds since the epoch. A
dispatcher reserves `n` slots with one atomic statement,

    UPDATE send_budget SET next_at = max(next_at, now) + n * interval WHERE channel = ...
    RETURNING next_at

and sends its i-th message at `next_at - (n - i) * interval`. Two dispatchers can never get the
same slot (the row is updated under its row lock on PostgreSQL, under the write gate on SQLite), so
together they keep the channel's rate whatever their number. The same pacing as a token bucket of
one token (no burst): the "drain interval" scheme, chosen because the platforms' limits are
per second with no stated burst. A dispatcher reserves at most `lead` seconds of slots at a time,
so a dead one wastes little of the budget.

`hold(seconds)` pushes the next slot out for everyone (a 429's `retry_after`). Sends that do not
wait for a slot (a chat reply, sent at once after its turn) are `debit`ed: the next reservation
takes them too, so notices slow down for replies instead of the sum going over the limit.

Clocks: slots are wall-clock times, so the dispatchers' machines need synchronised clocks (NTP),
as for the leases.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from sqlalchemy import func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.dialect import insert_ignore
from bot.storage.gate import writing
from bot.storage.models import SendBudget

_table = SendBudget.__table__


class SharedBudget:
    """Send slots for one channel at `per_second`, reserved in the database."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        channel: str,
        per_second: float,
        *,
        lead: float = 0.5,
        clock=time.time,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.channel = channel
        self.interval = 1.0 / per_second
        self.chunk = max(1, int(per_second * lead))
        self.clock = clock
        self._slots: deque[float] = deque()
        self._debt = 0
        self._lock = asyncio.Lock()
        self._ready = False

    # A slot is used at most this late (seconds): sends held up by a busy event loop are not
    # bunched after it (that would go over the rate within a second); their slots are dropped.
    LATE = 0.02

    async def wait(self) -> None:
        """Until this process's next slot (reserving more in the database when none is left).
        A slot missed by more than `LATE` (the event loop was held up, while waiting for it or
        after) is dropped and the next one taken."""
        while True:
            async with self._lock:
                while True:
                    if not self._slots:
                        await self._reserve(self.chunk)
                    at = self._slots.popleft()
                    if at >= self.clock() - self.LATE:
                        break
            delay = at - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.clock() - at <= self.LATE:
                return

    def debit(self, count: int = 1) -> None:
        """`count` sends went out without a slot: the next reservation takes them too."""
        self._debt += count

    async def settle(self) -> None:
        """Write the debit now (the dispatcher does, each round, when nothing else did)."""
        if self._debt:
            async with self._lock:
                await self._reserve(0)

    async def hold(self, seconds: float) -> None:
        """Nobody sends on this channel for `seconds` (the platform asked us to wait)."""
        until = self.clock() + seconds
        async with self._lock:
            self._slots = deque(max(at, until) for at in self._slots)
            await self._ensure_row()
            async with writing(self.sessionmaker) as session:
                await session.execute(
                    update(_table)
                    .where(_table.c.channel == self.channel)
                    .values(next_at=_greater(session, _table.c.next_at, until))
                )
                await session.commit()

    async def _ensure_row(self) -> None:
        if self._ready:
            return
        async with writing(self.sessionmaker) as session:
            await session.execute(
                insert_ignore(
                    session, SendBudget, {"channel": self.channel, "next_at": 0.0}, ["channel"]
                )
            )
            await session.commit()
        self._ready = True

    async def _reserve(self, count: int) -> None:
        await self._ensure_row()
        debt, self._debt = self._debt, 0
        total = count + debt
        now = self.clock()
        async with writing(self.sessionmaker) as session:
            end = (
                await session.execute(
                    update(_table)
                    .where(_table.c.channel == self.channel)
                    .values(
                        next_at=_greater(session, _table.c.next_at, now) + total * self.interval
                    )
                    .returning(_table.c.next_at)
                )
            ).scalar_one()
            await session.commit()
        first = end - count * self.interval
        self._slots.extend(first + i * self.interval for i in range(count))

    async def next_free(self) -> float:
        """The next slot nobody holds (for tests and the status command)."""
        async with self.sessionmaker() as session:
            got = await session.execute(
                select(_table.c.next_at).where(_table.c.channel == self.channel)
            )
            return got.scalar_one_or_none() or 0.0


def _greater(session: AsyncSession, column, value: float):
    """max(column, value): GREATEST on PostgreSQL, the two-argument max() on SQLite."""
    if session.bind.dialect.name == "postgresql":
        return func.greatest(column, literal(value))
    return func.max(column, literal(value))
