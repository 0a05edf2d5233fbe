"""The dispatcher: sends the outbox rows the fast path did not.

After a turn commits, the inbound worker sends the user's rows at once; the dispatcher is for the
rest: notices (one row per recipient, thousands at a time), rows waiting for a retry (`due_at`),
rows left queued by a process killed between commit and send, rows whose sender died mid-send (a
lapsed lease: `outbox.requeue_lapsed` puts them back in the queue).

Each round it leases a batch of due rows per channel (`outbox.lease_batch`: highest priority
first, so an urgent warning goes before a training notice queued earlier, and only each
recipient's oldest unfinished row, so one recipient's rows keep their order) and sends them
concurrently through the sender core. Several dispatchers may run on one PostgreSQL database:
`FOR UPDATE SKIP LOCKED` gives each a different batch, the lease keeps a row one dispatcher's,
and a channel's rate is shared through the database (`bot.outbox.budget`), so N dispatchers
together stay within it. A channel with a reply window (Zalo OA) has each row checked first
(`bot.outbox.window`): sent, sent as a proactive message spending the monthly quota, or failed
with the reason.

Crash safety: a row is leased (committed) before it is sent and marked sent right after; a
process killed in between leaves leased rows that another dispatcher (or this one, restarted)
takes again once the lease lapses (on SQLite, at once on restart). What may go out twice is only
what was in flight at the kill.

Library choice: chancy, pgqueuer and procrastinate are PostgreSQL job queues (one job, one task
function; procrastinate and pgqueuer have no SQLite backend, chancy's database-wide rate limit is
per queue). Here a row is a message with per-recipient ordering, a Zalo window check and a
shared per-channel budget, on SQLite as well as PostgreSQL, in the table the chat path already
writes in its own transaction: plain SQL on that table fits better than a second queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from bot.outbox.sender import Sender
from bot.outbox.window import PROACTIVE, SEND, WindowGate
from bot.storage.gate import writing
from bot.storage.repositories import outbox
from bot.tasks import finish, stop_task

log = logging.getLogger("bot.outbox.dispatcher")


class Dispatcher:
    """Leases due rows every `poll_interval` seconds (at once while there is work, sooner when
    told of a retry) and sends up to `concurrency` at a time."""

    def __init__(
        self,
        sender: Sender,
        *,
        poll_interval: float = 1.0,
        concurrency: int = 32,
        batch: int = 200,
        lapsed_interval: float = 1.0,
    ) -> None:
        self.sender = sender
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.batch = batch
        self.lapsed_interval = lapsed_interval
        self.gates: dict[str, WindowGate] = {}
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._next: datetime | None = None
        self._flushes: set[asyncio.Task] = set()
        self._inflight: dict[str, int] = {}
        self._lapsed_at = 0.0
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

    def _room(self, channel: str) -> int:
        """How many more rows of `channel` to lease now: what the concurrency leaves, and for
        a channel paced by a shared budget, about half a second of its sends (leased rows wait
        for their slot under their lease; one that waited half its lease renews it, and is not
        sent if it was taken again meanwhile: `outbox.renew`)."""
        room = min(self.batch, self.concurrency - len(self._flushes))
        room = min(room, self._cap(channel) - self._inflight.get(channel, 0))
        return max(0, room)

    def _cap(self, channel: str) -> int:
        budget = self.sender.budgets.get(channel)  # half a second of its sends
        return self.concurrency if budget is None else max(1, int(0.5 / budget.interval))

    async def dispatch_once(self) -> int:
        """Lease and start sending what is due now; how many rows were started."""
        names = self.sender.channel_names()
        if not names:
            return 0
        loop = asyncio.get_running_loop()
        for budget in self.sender.budgets.values():
            await budget.settle()  # chat replies sent since: the other dispatchers hear of them
        async with self.sender.sessionmaker() as session:  # a read first: no write when idle
            due, lapsed = await outbox.pending_work(session, names)
        if lapsed and loop.time() >= self._lapsed_at:
            self._lapsed_at = loop.time() + self.lapsed_interval
            async with writing(self.sender.sessionmaker) as session:
                requeued = await outbox.requeue_lapsed(session, names)
            if requeued:
                log.info("%d row(s) whose sender stopped go out again", requeued)
                due.update(names)
        started = 0
        for channel in names:
            room = self._room(channel)
            if room <= 0 or channel not in due:
                continue
            async with writing(self.sender.sessionmaker) as session:
                rows = await outbox.lease_batch(session, channel, room, self.sender.policy.lease)
            for row in rows:
                self._start(row)
                started += 1
        return started

    def _start(self, row: outbox.Leased) -> None:
        self._inflight[row.channel] = self._inflight.get(row.channel, 0) + 1
        task = asyncio.create_task(self._deliver(row))
        self._flushes.add(task)

        def done(t: asyncio.Task) -> None:
            self._flushes.discard(t)
            self._inflight[row.channel] -= 1
            # Lease again once half the room is free: batches, not a query per row.
            if len(self._flushes) <= self.concurrency // 2 or self._room(row.channel) >= max(
                1, self._cap(row.channel) // 2
            ):
                self._wake.set()

        task.add_done_callback(done)

    async def _deliver(self, row: outbox.Leased) -> None:
        try:
            # A notice's row is checked against the user's reply window (a chat reply is the
            # answer to a message: inside it by definition).
            gate = self.gates.get(row.channel) if row.notice_id is not None else None
            if gate is not None:
                verdict = await gate.decide(row)
                if verdict not in (SEND, PROACTIVE):
                    async with writing(self.sender.sessionmaker) as session:
                        await outbox.fail_reason(session, row.id, verdict, verdict)
                    return
            await self.sender.send_leased(row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: the lease lapses, the row goes again
            if not self.sender.outage.failed(exc, "sending a leased row"):
                log.exception("outbox: sending a leased row failed")

    async def _run(self) -> None:
        while True:
            started = 0
            try:
                started = await self.dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: look again at the next tick
                if not self.sender.outage.failed(exc, "dispatching the outbox"):
                    log.warning("outbox dispatch failed (%s)", type(exc).__name__)
            self._wake.clear()
            timeout = self.poll_interval
            if started:
                timeout = 0.05  # more may be due: look again as soon as there is room
            if self._next is not None:
                wait = (self._next - datetime.now(UTC)).total_seconds()
                timeout = max(0.0, min(timeout, wait))
            # asyncio.timeout, not wait_for: on Python 3.11 a cancel (stop) that lands while
            # wait_for is cancelling its inner wait can be lost, and stop() then waits forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            if self._next is not None and self._next <= datetime.now(UTC):
                self._next = None
