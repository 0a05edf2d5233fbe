"""The inbound worker: the one way a message goes from a channel to the pipeline and back out.

For every push channel (Telegram, Zalo, ...), the adapter hands the worker the platform's
payloads (`accept`) before it acknowledges them; the worker

1. asks the channel to `parse` each payload (an `IncomingMessage`, a `ContactGone`, a `Receipt`,
   or None for what the bot ignores) and records the rest in the inbox, in one transaction: only
   then may the adapter answer 200 or confirm the polling offset;
2. handles each user's recorded messages in order, oldest first (`inbox.next_unfinished`), one at
   a time, in process and across processes (`bot.core.ordering`), through the pipeline, whose
   transaction writes the replies as outbox rows;
3. hands the user's new outbox rows to the sender core (`Sender.flush`) right after the commit.

Failures follow one policy for every channel. A turn that raises is rolled back and counted in
the inbox; it is tried again after a short backoff, and given up after `inbox.MAX_ATTEMPTS`
(poison: marked failed, the user's next messages go on). When even the count cannot be written
(the database is down), the worker leaves the message recorded: a periodic sweep takes
unfinished rows left behind (by a failure, a kill, another process's crash) and runs them again,
and `start` resumes what an earlier run recorded but never finished.

Pull channels (the web chat, the console) call `converse` and get the replies back at once; the
outbox rows are marked sent when they are handed over, and a retried request with the same
message id gets the replies that were stored but not handed over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.context import Turn
from bot.core.pipeline import Pipeline, TurnFailed
from bot.media.download import MediaStep
from bot.messages import ContactGone, Inbound, IncomingMessage
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.sender import PushChannel, Sender
from bot.privacy import hash_key
from bot.storage.group import GroupCommit
from bot.storage.outage import Outage, is_outage
from bot.storage.repositories import inbox, outbox, users
from bot.storage.repositories.personal import erased_key, key_names
from bot.tasks import finish, stop_task

log = logging.getLogger("bot.inbound")


class Channel(PushChannel, Protocol):
    """What the worker needs of a channel adapter (bot.channels.base.Channel has it): read a
    recorded payload, and (for the sender core) send."""

    def parse(self, payload: dict[str, Any]) -> Inbound | None: ...


@dataclass(frozen=True)
class Handled:
    """What handling a recorded message left to send: rows queued, and rows already taken."""

    queued: bool
    claimed: list[outbox.Claimed]
    blocked: bool = False  # not handled: an older message of the sender goes first


NOTHING = Handled(queued=False, claimed=[])
BLOCKED = Handled(queued=False, claimed=[], blocked=True)
MAX_LEFT = 20_000  # messages an outage left, remembered for its end (beyond: the sweep's)


class LeftForLater(Exception):
    """A message's turn could not run because the database is away: not its fault, no attempt
    counted; the worker takes it up again when the database is back."""


class InboundWorker:
    """Receives for every channel: record, in order per user, handle, then send."""

    def __init__(
        self,
        pipeline: Pipeline,
        sender: Sender,
        *,
        max_in_flight: int = 256,
        retry_delay: float = 0.2,
        sweep_interval: float = 60.0,
        stale_after: float = 300.0,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.services = pipeline.services
        self.sender = sender
        pipeline.reply_lease = sender.policy.lease  # replies go out at once, unclaimed
        self.dispatcher = dispatcher or Dispatcher(sender)
        self.channels: dict[str, Channel] = {}
        self.max_in_flight = max_in_flight
        self.retry_delay = retry_delay
        self.sweep_interval = sweep_interval
        self.stale_after = stale_after
        self._tasks: set[asyncio.Task] = set()
        self._inflight: set[tuple[str, str]] = set()  # (channel, message id) scheduled here
        self._sweeper: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.outage = Outage.of(self.services.sessionmaker)
        # What an outage left, by (channel, message id): (sender, payload, event), taken up
        # again, with no attempt counted, when the database is back.
        self._left: dict[tuple[str, str], tuple[str | None, Any, Inbound | None]] = {}
        self._background = True  # the dispatcher loop and the sweep (not in a web-only role)
        self._recovering: asyncio.Task | None = None
        self._accepting = asyncio.Event()
        self._accepting.set()
        # Photos and audio stored before the turn (bot.media.MediaStep; set by bot.app).
        self.media: MediaStep | None = None
        # Web chat turns answered together share one transaction for their "handed over" marks
        # (each caller waits for its own commit; an outage error reaches each, a 503).
        self._handed_over = GroupCommit(self.services.sessionmaker, _mark_batch)
        # Webhook requests that come together record their payloads in one transaction: under
        # load they queue for the write gate behind a turn, and then each was a transaction.
        self._records = GroupCommit(self.services.sessionmaker, _record_batch)

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel
        self.sender.add_channel(channel)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, background: bool = True) -> None:
        """Resume what an earlier run left, then (`background`) sweep and dispatch in the
        background. After an outage, what it left is taken up again at once."""
        self._background = background
        self.outage.on_recovery(self._on_recovery)
        if self.services.writes.sqlite:  # one process per SQLite file: every lease is a dead one's
            async with self.services.writing() as session:
                released = await outbox.release_leases(session)
            if released:
                log.info("%d reply(ies) a stopped process was sending go out again", released)
        await self.resume()
        if not background:
            return
        self.dispatcher.start()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="inbound-sweep")

    def stop_accepting(self) -> None:
        """Shutting down: pollers fetch no more (`wait_for_room` blocks)."""
        self._accepting.clear()

    async def stop(self, grace: float = 10.0) -> None:
        """Let running messages and their sends finish for `grace` seconds in all, and write the
        sends' marks; the rest stay recorded, for the next start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        self.stop_accepting()
        self.outage.remove_callback(self._on_recovery)
        await stop_task(self._sweeper)
        await stop_task(self._recovering)
        self._sweeper = self._recovering = None
        while self._tasks and loop.time() < deadline:  # a poller's last batch may add some
            await finish(self._tasks, deadline - loop.time() - 0.5, unwind=0.5)
        await self.dispatcher.stop(grace=max(0.1, deadline - loop.time()))
        await self.sender.close(timeout=max(0.2, deadline - loop.time()))

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until no recorded message is being handled here (tests, benchmarks, shutdown)."""
        async with asyncio.timeout(timeout):  # not wait_for: see Dispatcher._run
            await self._idle.wait()

    async def wait_for_room(self) -> None:
        """Block while `max_in_flight` messages are being handled (a poller's back-pressure),
        and for good once the worker stops accepting (shutting down)."""
        await self._accepting.wait()
        while len(self._tasks) >= self.max_in_flight:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    # ------------------------------------------------------------------ push channels

    async def accept(self, channel: str, payloads: Sequence[dict[str, Any]]) -> int:
        """Record the payloads that need handling, then schedule them; how many were new.

        A payload the adapter cannot read (`parse` raises: a malformed update with a valid
        secret) is recorded as rejected in the same transaction, under a key made from its
        content, and never handled: the caller acknowledges it, so the platform stops sending
        it, and a redelivery finds the same row. Raises when the inbox cannot be written: the
        caller must not acknowledge the payloads (a webhook answers 503, a poller keeps its
        offset), so the platform sends them again.
        """
        adapter = self.channels[channel]
        events: list[Inbound] = []
        records: list[inbox.Record] = []
        rejected: list[inbox.Rejected] = []
        for payload in payloads:
            try:
                event = self._parse(adapter, payload, strict=True)
            except Exception as exc:
                reason = getattr(exc, "reason", None) or type(exc).__name__
                rejected.append((inbox.rejected_key(payload), payload, str(reason)))
                continue
            if event is not None:
                events.append(event)
                records.append((event.message_id, event.sender_id, payload))
        if not records and not rejected:
            return 0
        erased = self._erased_keys(channel, records)
        # With the other requests' records that came meanwhile, in one transaction.
        new = await self._records.submit((channel, records, rejected, erased))
        for _key, _payload, reason in rejected:  # the field's path only: no personal data
            log.warning("%s: a malformed payload was recorded as rejected (%s)", channel, reason)
        for event, (_id, _sender, payload), is_new in zip(events, records, new, strict=True):
            if is_new:
                self._schedule(channel, event.sender_id, event.message_id, payload, event)
        return sum(new)

    def _erased_keys(self, channel: str, records: Sequence[inbox.Record]) -> dict[str, str]:
        """The records' keys that name their sender, each with the key an erasure leaves."""
        named = [mid for mid, sender, _p in records if sender and key_names(mid, sender)]
        if not named:
            return {}
        key = hash_key(self.services.settings)
        return {mid: erased_key(key, channel, mid) for mid in named}

    @staticmethod
    def _parse(adapter: Channel, payload: Any, strict: bool = False) -> Inbound | None:
        """The adapter's reading of a payload; None for what needs nothing. A payload it cannot
        read is None too (logged), or, when `strict`, the adapter's exception."""
        try:
            return adapter.parse(payload) if isinstance(payload, dict) else None
        except Exception as exc:  # a payload the adapter cannot read: nothing to answer
            if strict:
                raise
            log.warning("%s: unreadable payload ignored (%s)", adapter.name, type(exc).__name__)
            return None

    def _schedule(
        self,
        channel: str,
        sender: str | None,
        message_id: str,
        payload: dict[str, Any] | None,
        event: Inbound | None = None,
    ) -> bool:
        key = (channel, message_id)
        if key in self._inflight:
            return False
        self._inflight.add(key)
        self._idle.clear()
        task = asyncio.get_running_loop().create_task(
            self._process(channel, sender, message_id, payload, event)
        )
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            self._inflight.discard(key)
            if not self._tasks:
                self._idle.set()

        task.add_done_callback(done)
        return True

    async def _process(
        self,
        channel: str,
        sender: str | None,
        message_id: str,
        payload: dict[str, Any] | None,
        event: Inbound | None = None,
    ) -> None:
        try:
            if sender is None:  # recorded without a sender: nothing to order it against
                await self._handle_recorded(channel, message_id)
                return
            async with self.services.ordering.hold(channel, sender):
                # Fast path: the message itself. Its claim is refused while an older message of
                # the sender is unfinished; then they go oldest first.
                outcome = await self._handle(channel, message_id, payload, event)
                if outcome is not None and outcome.blocked:
                    outcome = await self._in_order(channel, sender, message_id)
            if outcome is not None:
                await self._send(channel, sender, outcome.queued, outcome.claimed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. the database is down: resumed when it is back
            if isinstance(exc, LeftForLater) or self.outage.failed(exc, "handling a message"):
                self._leave(channel, sender, message_id, payload, event)
            else:  # the sweep or the next start resumes it
                log.error("%s: a message was left for later (%s)", channel, type(exc).__name__)

    def _leave(
        self,
        channel: str,
        sender: str | None,
        message_id: str,
        payload: Any,
        event: Inbound | None,
    ) -> None:
        """Remember a message an outage left; taken up again when the database is back (or,
        when the database is not known to be away, e.g. the pool was exhausted, in a second)."""
        if self.outage.down:
            if len(self._left) < MAX_LEFT:
                self._left[(channel, message_id)] = (sender, payload, event)
            return
        loop = asyncio.get_running_loop()
        if self._accepting.is_set():
            loop.call_later(1.0, self._schedule, channel, sender, message_id, payload, event)

    def _on_recovery(self) -> None:
        if self._recovering is None or self._recovering.done():
            self._recovering = asyncio.get_running_loop().create_task(
                self._resume_after_outage(), name="inbound-recovery"
            )

    async def _resume_after_outage(self) -> None:
        """The database is back: what the outage left here goes on at once (no attempt counted);
        with the sweep, so does what it left recorded elsewhere (a record whose commit's answer
        was lost, another process's)."""
        left, self._left = self._left, {}
        for (channel, message_id), (sender, payload, event) in left.items():
            self._schedule(channel, sender, message_id, payload, event)
        if left:
            log.info("resuming %d message(s) the outage left", len(left))
        self.dispatcher.wake_at(datetime.now(UTC))
        await self.sender.recover()
        if not self._background:
            return
        try:
            await self.resume(received_before=datetime.now(UTC))
        except Exception as exc:
            if not self.outage.failed(exc, "resuming after an outage"):
                log.warning("resume after an outage failed (%s)", type(exc).__name__)

    async def _in_order(self, channel: str, sender: str, message_id: str) -> Handled | None:
        """Handle the sender's unfinished messages up to `message_id`, oldest first."""
        queued, claimed = False, []
        while True:
            async with self.services.sessionmaker() as session:
                row = await inbox.next_unfinished(session, channel, sender, message_id)
                entry = (row.message_id, row.payload) if row is not None else None
            if entry is None:
                break
            outcome = await self._handle(channel, *entry)
            if outcome is None or outcome.blocked:
                break  # the database is away: the sweep takes the rest up again
            queued, claimed = queued or outcome.queued, claimed + outcome.claimed
            if entry[0] == message_id:
                break  # ours was the last one to go
        return Handled(queued, claimed)

    async def _handle_recorded(self, channel: str, message_id: str) -> None:
        async with self.services.sessionmaker() as session:
            row = await inbox.get(session, channel, message_id)
            payload = row.payload if row is not None and row.status in inbox.UNFINISHED else None
        if row is None or row.status not in inbox.UNFINISHED:
            return
        event = self._parse(self.channels[channel], payload)
        outcome = await self._handle(channel, message_id, payload)
        if event is not None and outcome is not None:
            await self._send(channel, event.sender_id, outcome.queued, outcome.claimed)

    async def _send(
        self, channel: str, recipient: str, queued: bool, claimed: list[outbox.Claimed]
    ) -> None:
        """Right after the commit: the rows the turns took go out at once; else anything queued."""
        if claimed:
            await self.sender.deliver(claimed)
        elif queued:
            await self.sender.flush(channel, recipient)

    async def _handle(
        self, channel: str, message_id: str, payload: Any, event: Inbound | None = None
    ) -> Handled | None:
        """Handle one recorded message (`event`: its payload already parsed); None when it must
        wait (the database is away)."""
        if event is None:
            event = self._parse(self.channels[channel], payload)
        if event is None or event.message_id != message_id:
            async with self.services.writing() as session:
                await inbox.mark(session, channel, message_id, "failed", "unreadable payload")
                await session.commit()
            return NOTHING
        if isinstance(event, IncomingMessage):
            if self.media is not None and event.media:  # fetched outside any transaction
                event = await self.media.prepare(self.channels[channel], event)
            return await self._turn(event)
        async with self.services.writing() as session:
            if not await inbox.claim(session, channel, message_id):
                await session.rollback()
                return BLOCKED if await inbox.waiting(session, channel, message_id) else NOTHING
            if isinstance(event, ContactGone):
                await users.mark_unreachable(session, channel, event.sender_id)
                await outbox.fail_unfinished(session, channel, event.sender_id, "gone")
                log.info(
                    "%s: user %s blocked or unfollowed; unsubscribed",
                    channel,
                    self.services.memory.pseudonym(channel, event.sender_id),
                )
            else:
                await outbox.mark_receipt(session, channel, event.platform_refs, event.state)
            await session.commit()
        return NOTHING

    async def _turn(self, msg: IncomingMessage) -> Handled | None:
        for attempt in range(inbox.MAX_ATTEMPTS):
            try:
                turn = await self.pipeline.handle(msg)
            except TurnFailed as failed:
                if failed.given_up:
                    return NOTHING
                if not failed.counted and is_outage(failed.error):
                    raise LeftForLater() from failed.error
                if not failed.counted:
                    return None
                await asyncio.sleep(self.retry_delay * (2**attempt))
                continue
            if turn.duplicate:
                async with self.services.sessionmaker() as session:
                    blocked = await inbox.waiting(session, msg.channel, msg.message_id)
                return BLOCKED if blocked else NOTHING
            return Handled(queued=bool(turn.outbox_ids), claimed=turn.claimed)
        return None  # still failing: the sweep takes it up again (its attempts are counted)

    async def resume(self, received_before: datetime | None = None) -> int:
        """Schedule recorded, unfinished messages of our channels that are not being handled
        here already; how many were taken."""
        if not self.channels:
            return 0
        count, after = 0, 0
        while True:
            async with self.services.writing() as session:  # taking them counts an attempt
                rows = await inbox.pending(
                    session,
                    list(self.channels),
                    limit=500,
                    after_id=after,
                    received_before=received_before,
                    exclude=set(self._inflight),
                )
                taken = [(r.id, r.channel, r.sender, r.message_id, r.payload) for r in rows]
            if not taken:
                break
            for row_id, channel, sender, message_id, payload in taken:
                after = row_id
                count += self._schedule(channel, sender, message_id, payload)
            if len(taken) < 500:
                break
        if count:
            log.info("resumed %d recorded message(s)", count)
        return count

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                before = datetime.now(UTC) - timedelta(seconds=self.stale_after)
                await self.resume(received_before=before)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again at the next sweep
                if not self.outage.failed(exc, "sweeping the inbox"):
                    log.warning("inbound sweep failed (%s)", type(exc).__name__)

    # ------------------------------------------------------------------ pull channels

    async def converse(self, msg: IncomingMessage) -> Turn:
        """Handle a message now and hand its replies over (web chat, console).

        A retried request (same message id) gets the replies stored but not yet handed over.
        Raises TurnFailed when the turn fails.
        """
        turn = await self.pipeline.handle(msg)
        ids = turn.outbox_ids
        if turn.duplicate:
            async with self.services.sessionmaker() as session:
                stored = await outbox.unsent_replies(
                    session, msg.channel, msg.sender_id, msg.message_id
                )
            turn.replies = [reply for _id, reply in stored]
            ids = [row_id for row_id, _reply in stored]
        if ids:
            await self._handed_over.submit(ids)
        return turn


async def _record_batch(session: AsyncSession, batch: Sequence[inbox.Batch]) -> list[list[bool]]:
    """Record several requests' payloads, each with its own answer (`inbox.record_batch`)."""
    return await inbox.record_batch(session, batch)


async def _mark_batch(session: AsyncSession, batch: Sequence[list[int]]) -> list[None]:
    """Mark several web chat turns' replies handed over, in one statement."""
    await outbox.mark_sent(session, [row_id for ids in batch for row_id in ids])
    return [None] * len(batch)
