"""Group commit: short writes that many tasks ask for at about the same time, in one transaction.

Each webhook records its message before answering 200, and each web chat reply is marked handed
over after its turn: on their own, every one is a transaction (a trip through the write gate, a
commit, on SQLite three or four thread hops per statement). Under load they come together, so a
`GroupCommit` writes them together: the first item starts a writer at once (no linger: a lone
request pays nothing); the items that arrive while it waits for the write gate or for the
previous commit join the next batch, taken only once the gate is held. Each `submit` returns
once ITS item is committed, with its own result, or raises the batch's exception.

A batch that fails for a reason other than the database being away (a bug, a value one row
cannot hold) is written again one item at a time, so one bad item fails only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.gate import writing
from bot.storage.outage import is_outage

T = TypeVar("T")
R = TypeVar("R")

Write = Callable[[AsyncSession, Sequence[T]], Awaitable[Sequence[R]]]


class GroupCommit(Generic[T, R]):
    """Collects items from concurrent callers and writes them in shared transactions.

    `write(session, items)` writes a batch and commits; it returns one result per item, in order.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        write: Write[T, R],
        max_batch: int = 512,
    ) -> None:
        self.sessionmaker = sessionmaker
        self._write_batch = write
        self.max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task | None = None
        self.batches = 0  # transactions written (tests, benchmarks)

    async def submit(self, item: T) -> R:
        """Write `item` with whatever else is waiting; its result once committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run(), name="group-commit")
        return await future

    async def _run(self) -> None:
        while self._waiting:
            try:
                await self._one_batch()
            except BaseException as exc:  # cancelled: every caller still waiting hears of it
                waiting, self._waiting = self._waiting, []
                error = exc if isinstance(exc, Exception) else RuntimeError("cancelled")
                for _item, future in waiting:
                    if not future.done():
                        future.set_exception(error)
                raise

    async def _one_batch(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            async with writing(self.sessionmaker) as session:
                # Taken once the gate is held: everything that came while waiting for it joins.
                live = [w for w in self._waiting if not w[1].done()]  # a caller gone: not written
                batch, self._waiting = live[: self.max_batch], live[self.max_batch :]
                if not batch:
                    return
                results = await self._write_batch(session, [item for item, _f in batch])
            self.batches += 1
        except Exception as exc:
            if len(batch) > 1 and not is_outage(exc):
                await self._one_by_one(batch)
                return
            for _item, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            self._waiting[:0] = batch  # `_run` tells them
            raise
        for (_item, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _one_by_one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        for i, (item, future) in enumerate(batch):
            try:
                async with writing(self.sessionmaker) as session:
                    (result,) = await self._write_batch(session, [item])
                self.batches += 1
            except BaseException as exc:
                if not isinstance(exc, Exception):
                    self._waiting[:0] = batch[i:]  # cancelled: `_run` tells them
                    raise
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(result)
