"""The sender core: everything the bot sends leaves through here, from outbox rows.

A channel adapter only says what one reply becomes on its platform (`parts`) and makes one
platform call per part (`deliver`), raising `SendError` when it fails: retryable or not, the
contact gone (blocked, unfollowed) or not, and how long the platform asked us to wait. This
module does the rest, the same way for every channel:

- rate limits: an overall rate and a minimum interval per chat, per channel (`Limits`);
- one recipient's rows in order, one at a time, across processes (`outbox.claim_next`);
- retries with exponential backoff and jitter, `retry_after` honoured (and every send of the
  channel held back for it), up to `RetryPolicy.max_attempts`; then failed, with the reason;
- a contact that is gone: the row and the recipient's other unsent rows failed, the user marked
  unreachable and unsubscribed;
- a reply of several parts (a long text, a photo and a text) resumes at the first part not sent.

`flush(channel, recipient)` is the fast path, called right after a turn commits; the dispatcher
(`bot.outbox.dispatcher`) calls it for rows that wait for a retry or were left by a dead process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.ordering import KeyedLock
from bot.messages import Reply
from bot.outbox.budget import SharedBudget
from bot.storage.gate import writing
from bot.storage.outage import Outage
from bot.storage.repositories import outbox, users

log = logging.getLogger("bot.outbox")


class LeaseLost(Exception):
    """A leased row's lease lapsed while it waited for its turn, and it was taken again."""


class SendError(Exception):
    """One platform call failed. `reason` holds no personal data (no ids, no message text)."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool = False,
        gone: bool = False,
        retry_after: float | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable or retry_after is not None
        self.gone = gone
        self.retry_after = retry_after
        # What staff see it counted as, when not the default (a permanent failure: "refused"),
        # e.g. outbox.OUTSIDE_WINDOW for a Zalo user outside the reply window.
        self.kind = kind


@dataclass(frozen=True)
class Limits:
    """A platform's sending limits: messages per second overall, seconds between two to one chat."""

    per_second: float = 30.0
    per_chat_interval: float = 0.0


class PushChannel(Protocol):
    """What the sender core needs of a channel (bot.channels.base.Channel has it)."""

    name: str
    limits: Limits

    def parts(self, reply: Reply) -> Sequence[Any]:
        """The platform messages one reply becomes, in order (deterministic: resumed by index)."""

    async def deliver(self, recipient: str, part: Any) -> str | None:
        """Send one part; the platform's message id when it gives one. Raises SendError."""


class RateLimiter:
    """An overall rate (messages/s) and a minimum interval per chat."""

    def __init__(
        self,
        per_second: float,
        per_chat_interval: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.per_chat_interval = per_chat_interval
        self.clock = clock
        self._next_global = 0.0
        self._next_chat: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, chat_key: str) -> None:
        async with self._lock:
            now = self.clock()
            at = max(now, self._next_global, self._next_chat.get(chat_key, 0.0))
            self._next_global = at + self.interval
            if self.per_chat_interval:
                self._next_chat[chat_key] = at + self.per_chat_interval
                if len(self._next_chat) > 10_000:  # forget chats whose slot has passed
                    self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
        delay = at - now
        if delay > 0:
            await asyncio.sleep(delay)

    def push_back(self, seconds: float) -> None:
        """After a 429, hold every send for `seconds`."""
        self._next_global = max(self._next_global, self.clock() + seconds)

    async def wait_chat(self, chat_key: str) -> None:
        """Only the per-chat interval (the overall rate is a shared budget's)."""
        if not self.per_chat_interval:
            return
        now = self.clock()
        at = max(now, self._next_chat.get(chat_key, 0.0))
        self._next_chat[chat_key] = at + self.per_chat_interval
        if len(self._next_chat) > 10_000:
            self._next_chat = {k: v for k, v in self._next_chat.items() if v > now}
        if at > now:
            await asyncio.sleep(at - now)


@dataclass(frozen=True)
class RetryPolicy:
    """How failed sends are retried: `max_attempts` in all, exponential backoff with jitter."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 300.0
    max_retry_after: float = 300.0
    lease_seconds: float = 30.0  # a row being sent is another process's again after this

    def backoff(self, attempt: int) -> float:
        """Delay before the next try after `attempt` failed tries (1, 2, ...)."""
        delay = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return delay * (0.5 + random.random() / 2)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)


class Sender:
    """Delivers outbox rows through the registered push channels."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        policy: RetryPolicy | None = None,
        pseudonym: Callable[[str, str], str] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.policy = policy or RetryPolicy()
        self.channels: dict[str, PushChannel] = {}
        self.limiters: dict[str, RateLimiter] = {}
        # Channels whose rate every dispatcher shares through the database (`use_shared_budgets`).
        self.budgets: dict[str, SharedBudget] = {}
        self._pseudonym = pseudonym or (lambda _channel, _recipient: "-")
        self._flushing = KeyedLock()
        self._retry_at: Callable[[datetime], None] = lambda _at: None
        self.outage = Outage.of(sessionmaker)
        self._marks = _SentMarks(sessionmaker, self.outage)
        # Rows whose send an outage interrupted (taken, maybe partly sent, not marked): handed
        # back, their attempt not counted, when the database is back (`recover`).
        self._interrupted: set[int] = set()

    def add_channel(self, channel: PushChannel) -> None:
        self.channels[channel.name] = channel
        self.limiters[channel.name] = RateLimiter(
            channel.limits.per_second, channel.limits.per_chat_interval
        )

    def use_shared_budgets(self, headroom: float = 0.97) -> None:
        """Pace the dispatcher's sends by a budget shared through the database, per channel
        with a rate limit, at `headroom` of its rate; each chat reply sent at once counts
        against it too."""
        for name, channel in self.channels.items():
            if channel.limits.per_second > 0 and name not in self.budgets:
                self.budgets[name] = SharedBudget(
                    self.sessionmaker, name, channel.limits.per_second * headroom
                )

    def on_retry(self, callback: Callable[[datetime], None]) -> None:
        """Be told when a row is rescheduled (the dispatcher wakes for it)."""
        self._retry_at = callback

    async def enqueue(
        self,
        channel: str,
        recipient: str,
        replies: Sequence[Reply],
        *,
        source: str = "reply",
        user_id: int | None = None,
    ) -> list[int]:
        """Queue messages outside a turn (a staff reply, a notice) in their own transaction."""
        async with writing(self.sessionmaker) as session:
            queued = await outbox.add_replies(
                session,
                channel=channel,
                recipient=recipient,
                replies=replies,
                user_id=user_id,
                source=source,
            )
            await session.commit()
        return queued.ids

    async def send_now(
        self, channel: str, recipient: str, replies: Sequence[Reply], **kw: Any
    ) -> list[int]:
        """`enqueue`, then `flush` at once; the row ids (a retry, if any, follows later). A
        dispatcher that leased the rows between the insert and the flush sends them instead:
        then this returns before they are sent (each row still goes once)."""
        ids = await self.enqueue(channel, recipient, replies, **kw)
        await self.flush(channel, recipient)
        return ids

    def busy(self, channel: str, recipient: str) -> bool:
        return (channel, recipient) in self._flushing._entries

    async def flush(self, channel: str, recipient: str) -> int:
        """Send the recipient's due rows in order; how many were sent. Never raises for a send."""
        if channel not in self.channels:
            return 0
        sent = 0
        async with self._flushing.hold((channel, recipient)):
            while True:
                async with self.sessionmaker() as session:  # a read first: no write when idle
                    if not await outbox.ready(session, channel, recipient):
                        return sent
                async with writing(self.sessionmaker) as session:
                    row = await outbox.claim_next(session, channel, recipient, self.policy.lease)
                if row is None:
                    return sent
                if not await self._send(row):
                    return sent
                sent += 1

    async def deliver(self, rows: Sequence[outbox.Claimed]) -> int:
        """The fast path: send rows a turn wrote already taken (`add_replies(lease=...)`), in
        order; how many were sent.

        Rows of the recipient queued meanwhile (a later turn saw these unsent) are that turn's
        to flush: in this process its flush waits for this one and then finds them ready; in
        another process, the dispatcher's next poll takes them.
        """
        if not rows:
            return 0
        channel, recipient = rows[0].channel, rows[0].recipient
        if channel not in self.channels:
            return 0
        sent = 0
        marks: list[asyncio.Future[None]] = []
        try:
            async with self._flushing.hold((channel, recipient)):
                for i, row in enumerate(rows):
                    # The next row does not wait for this one's mark to be written: both are
                    # in flight until their marks are, which the end of this call waits for.
                    if not await self._send(row, marks):
                        async with writing(self.sessionmaker) as session:  # not tried: in line
                            await outbox.release(session, [r.id for r in rows[i + 1 :]])
                        return sent
                    sent += 1
        finally:
            if marks:
                await asyncio.gather(*marks)
        return sent

    async def send_leased(self, row: outbox.Claimed) -> bool:
        """Deliver a row a dispatcher leased (`outbox.lease_batch`), paced by the channel's
        shared budget when it has one; True when sent."""
        budget = self.budgets.get(row.channel)
        limiter = self.limiters[row.channel]
        lost = asyncio.Event()

        async def keep_lease() -> None:
            """While the row waits for its turn, renew its lease every half lease; if it was
            taken again meanwhile (it lapsed: the process was held up), it is not ours to send."""
            while True:
                await asyncio.sleep(self.policy.lease_seconds / 2)
                async with writing(self.sessionmaker) as session:
                    ours = await outbox.renew(session, row.id, row.attempts, self.policy.lease)
                if not ours:
                    lost.set()
                    return

        async def pace(recipient: str) -> None:
            if budget is None:
                await limiter.wait(recipient)
            else:
                await budget.wait()
                await limiter.wait_chat(recipient)
            if lost.is_set():
                raise LeaseLost()

        # As a flush of the recipient: one at a time in this process, so a flush started
        # meanwhile (a turn's, `send_now`) waits for this send's outcome instead of passing it.
        keeper = asyncio.create_task(keep_lease())
        try:
            async with self._flushing.hold((row.channel, row.recipient)):
                return await self._send(row, pace=pace)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeper

    async def _send(
        self,
        row: outbox.Claimed,
        marks: list[asyncio.Future[None]] | None = None,
        pace: Callable[[str], Any] | None = None,
    ) -> bool:
        """Deliver one claimed row; True when sent (the next row may follow). Its mark as sent
        is awaited here, or, with `marks`, added to them for the caller to await. `pace` waits
        for each part's turn (default: this process's limiter, and the send is debited from the
        channel's shared budget, if any)."""
        channel = self.channels[row.channel]
        limiter = self.limiters[row.channel]
        budget = self.budgets.get(row.channel) if pace is None else None
        try:
            parts = list(channel.parts(row.reply))
        except Exception as exc:  # a reply the channel cannot render: not worth retrying
            await self._fail(row, f"cannot render: {type(exc).__name__}", outbox.UNRENDERABLE)
            return True
        deliver = channel.deliver
        ref: str | None = None
        try:
            for i in range(row.parts_sent, len(parts)):
                if pace is None:
                    await limiter.wait(row.recipient)
                    if budget is not None:
                        budget.debit()
                else:
                    await pace(row.recipient)
                ref = await deliver(row.recipient, parts[i]) or ref
                if i + 1 < len(parts):
                    await self._progress(row, i + 1)
        except SendError as exc:
            try:
                return await self._failed_send(row, exc, limiter)
            except Exception as db_exc:  # the outcome cannot be written: the database is away
                if self._interrupted_by_outage(row, db_exc, "recording a failed send"):
                    return False
                raise
        except LeaseLost:  # another dispatcher has the row now: it sends it, not us
            log.info(
                "%s: a row's lease lapsed before its turn; left to its new sender", row.channel
            )
            return False
        except asyncio.CancelledError:
            # Shutting down: hand the row back at once instead of waiting for its lease.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(row.id))
            raise
        except Exception as exc:  # a bug or an unexpected library error: retried, then failed
            if self._interrupted_by_outage(row, exc, "sending a reply"):
                return False  # e.g. a token read from the database: not the send's fault
            log.exception("%s: unexpected error sending a reply", row.channel)
            return await self._failed_send(
                row, SendError(f"unexpected {type(exc).__name__}", retryable=True), limiter
            )
        mark = self._marks.mark(row.id, ref)
        if marks is None:
            await mark
        else:
            marks.append(mark)
        return True

    async def _progress(self, row: outbox.Claimed, parts_sent: int) -> None:
        """Note the parts sent so far; while the database is away the send goes on (its final
        mark, retried until written, covers them)."""
        try:
            async with writing(self.sessionmaker) as session:
                await outbox.progress(session, row.id, parts_sent, self.policy.lease)
        except Exception as exc:
            if not self.outage.failed(exc, "noting a reply's progress"):
                raise

    async def _release(self, row_id: int) -> None:
        async with writing(self.sessionmaker) as session:
            await outbox.retry_later(session, row_id, 0.0, "interrupted")

    async def _failed_send(self, row: outbox.Claimed, exc: SendError, limiter: RateLimiter) -> bool:
        who = self._pseudonym(row.channel, row.recipient)
        if exc.gone:
            async with writing(self.sessionmaker) as session:
                await outbox.mark_failed(session, row.id, f"gone: {exc.reason}", outbox.BLOCKED)
                await outbox.fail_unfinished(session, row.channel, row.recipient, "gone")
                await users.mark_unreachable(session, row.channel, row.recipient)
                await session.commit()
            log.info(
                "%s: user %s cannot be reached (%s); unsubscribed", row.channel, who, exc.reason
            )
            return False
        if not exc.retryable or row.attempts >= self.policy.max_attempts:
            why = exc.reason if not exc.retryable else f"retries exhausted: {exc.reason}"
            kind = exc.kind or (outbox.REFUSED if not exc.retryable else outbox.RETRIES_EXHAUSTED)
            await self._fail(row, why, kind)
            log.warning("%s: reply to %s failed for good: %s", row.channel, who, why)
            return True  # the next rows of the recipient may still go
        if exc.retry_after is not None:
            delay = min(exc.retry_after, self.policy.max_retry_after)
            limiter.push_back(delay)
            budget = self.budgets.get(row.channel)
            if budget is not None:  # every dispatcher holds back, not only this one
                await budget.hold(delay)
        else:
            delay = self.policy.backoff(row.attempts)
        async with writing(self.sessionmaker) as session:
            due = await outbox.retry_later(session, row.id, delay, exc.reason)
        log.warning(
            "%s: send to %s failed (%s), attempt %d of %d, retry in %.1fs",
            row.channel,
            who,
            exc.reason,
            row.attempts,
            self.policy.max_attempts,
            delay,
        )
        self._retry_at(due)
        return False

    async def _fail(self, row: outbox.Claimed, error: str, reason: str | None = None) -> None:
        async with writing(self.sessionmaker) as session:
            await outbox.mark_failed(session, row.id, error, reason)
            await session.commit()

    def channel_names(self) -> list[str]:
        return list(self.channels)

    async def recover(self) -> None:
        """After an outage: rows it interrupted go back to the queue, their attempt not counted
        (a database problem never uses up a send's attempts)."""
        ids, self._interrupted = sorted(self._interrupted), set()
        if not ids:
            return
        try:
            async with writing(self.sessionmaker) as session:
                await outbox.release(session, ids)
        except Exception as exc:
            self._interrupted.update(ids)
            if not self.outage.failed(exc, "handing back interrupted sends"):
                raise

    async def close(self, timeout: float = 5.0) -> None:
        """At shutdown: wait (at most `timeout` s) until every send's mark is written, so what
        was sent is not sent again by the next process."""
        await self._marks.drain(timeout)

    def _interrupted_by_outage(self, row: outbox.Claimed, exc: BaseException, what: str) -> bool:
        """True when `exc` is the database's, not the send's: the row waits for the database,
        and its attempt is given back then."""
        if not self.outage.failed(exc, what):
            return False
        self._interrupted.add(row.id)
        return True


class _SentMarks:
    """Marks rows sent as soon as they are, several in one transaction when sends finish
    together (a group commit): the first mark waits `LINGER`, then for the write gate; every
    mark queued by the time the gate is held goes in its statement, the ones that come while it
    is being written in the next. Each `mark` returns once its row is durably sent."""

    # How long the first mark waits for others to join its transaction: a reply's next part or
    # the next reply is usually sent by then (measured: a Telegram send to a local server takes
    # about 1 ms), so one write covers both.
    LINGER = 0.003

    RETRY = 0.25  # seconds between tries while the database is away

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], tracker: Outage) -> None:
        self.sessionmaker = sessionmaker
        self.outage = tracker
        self._waiting: list[tuple[int, str | None, asyncio.Future[None]]] = []
        self._writer: asyncio.Task | None = None

    async def drain(self, timeout: float) -> None:
        """Wait until every queued mark is written (at most `timeout` seconds)."""
        writer = self._writer
        if writer is not None and not writer.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(writer), timeout)

    def mark(self, row_id: int, ref: str | None) -> asyncio.Future[None]:
        """Queue the mark; the future is done once it is written."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row_id, ref, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return future

    async def _write(self) -> None:
        await asyncio.sleep(self.LINGER)
        while self._waiting:
            batch: list[tuple[int, str | None, asyncio.Future[None]]] = []
            try:
                async with writing(self.sessionmaker) as session:
                    # Taken once the write gate is held: the marks that came while waiting for
                    # it (behind a turn, on SQLite) join this statement.
                    batch, self._waiting = self._waiting, []
                    await outbox.mark_sent_many(session, [(i, ref) for i, ref, _f in batch])
            except Exception as exc:
                if not batch:  # failed before taking them: they are this attempt's
                    batch, self._waiting = self._waiting, []
                if self.outage.failed(exc, "marking replies sent"):
                    # Sent, but not yet marked: keep the marks and write them when the database
                    # is back (else the row's lease lapses and it goes out twice).
                    self._waiting[:0] = batch
                    await self.outage.wait_up(5.0)
                    await asyncio.sleep(self.RETRY)
                    continue
                for _i, _ref, future in batch:  # a bug: each sender hears of it
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException as exc:  # cancelled: each sender hears of it
                if not batch:
                    batch, self._waiting = self._waiting, []
                for _i, _ref, future in batch:
                    if not future.done():
                        future.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError("cancelled")
                        )
                if not isinstance(exc, Exception):
                    raise
                continue
            for _i, _ref, future in batch:
                if not future.done():
                    future.set_result(None)
