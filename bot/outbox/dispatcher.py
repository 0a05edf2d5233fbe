"""The dispatcher: sends the outbox rows the fast path did not.

After a turn commits, the inbound worker flushes the user's rows at once; the dispatcher is for
the rest: rows waiting for a retry (`due_at`), rows left queued by a process killed between commit
and send, rows whose sender died mid-send (a lapsed lease), and later notices. It asks the
database which recipients have a row ready, and flushes each through the sender core; several
dispatchers on one database (one per process) share the work safely, since a row is taken by one
of them at a time (`outbox.claim_next`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from bot.outbox.sender import Sender
from bot.storage.repositories import outbox
from bot.tasks import finish, stop_task

log = logging.getLogger("bot.outbox.dispatcher")


class Dispatcher:
    """Polls for due outbox rows every `poll_interval` seconds, and sooner when told of a retry."""

    def __init__(
        self, sender: Sender, *, poll_interval: float = 1.0, concurrency: int = 32
    ) -> None:
        self.sender = sender
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._next: datetime | None = None
        self._flushes: set[asyncio.Task] = set()
        sender.on_retry(self.wake_at)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self, grace: float = 5.0) -> None:
        await stop_task(self._task)
        self._task = None
        await finish(self._flushes, grace - 0.5, unwind=0.5)

    def wake_at(self, at: datetime) -> None:
        """A row becomes due at `at`: make sure the loop looks then."""
        if self._next is None or at < self._next:
            self._next = at
            self._wake.set()

    async def dispatch_once(self) -> int:
        """Flush every recipient with a row ready now; how many flushes were started."""
        names = self.sender.channel_names()
        if not names:
            return 0
        async with self.sender.sessionmaker() as session:
            pairs = await outbox.due_recipients(session, names, limit=self.concurrency * 4)
        started = 0
        for channel, recipient in pairs:
            if self.sender.busy(channel, recipient):
                continue  # its flush in this process will take the row
            while len(self._flushes) >= self.concurrency:
                await asyncio.wait(set(self._flushes), return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(self.sender.flush(channel, recipient))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
            started += 1
        return started

    async def _run(self) -> None:
        while True:
            try:
                await self.dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: look again at the next tick
                if not self.sender.outage.failed(exc, "dispatching the outbox"):
                    log.warning("outbox dispatch failed (%s)", type(exc).__name__)
            self._wake.clear()
            timeout = self.poll_interval
            if self._next is not None:
                wait = (self._next - datetime.now(UTC)).total_seconds()
                timeout = max(0.0, min(timeout, wait))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if self._next is not None and self._next <= datetime.now(UTC):
                self._next = None
