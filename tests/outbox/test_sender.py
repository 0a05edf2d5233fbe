"""The sender core and the dispatcher, on SQLite and PostgreSQL, through a scripted channel.

`ScriptedChannel` is a push channel whose `deliver` records each call and fails as the test
scripts it; everything else is the real outbox, sender core, dispatcher and database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.messages import Reply
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.sender import Limits, RetryPolicy, Sender, SendError
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import OutboxEntry, Subscription, User
from bot.storage.repositories import outbox

FAST = RetryPolicy(
    max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=2, lease_seconds=0.5
)


@dataclass
class ScriptedChannel:
    """Parts are the reply's text split at "|"; `failures` are raised by the next deliveries."""

    name: str = "fake"
    limits: Limits = field(default_factory=lambda: Limits(per_second=10_000))
    delivered: list[tuple[str, str]] = field(default_factory=list)
    calls: list[tuple[str, str, float]] = field(default_factory=list)  # (who, part, started)
    spans: list[tuple[str, str, float, float]] = field(default_factory=list)  # + ended
    failures: list[SendError | None] = field(default_factory=list)
    delay: float = 0.0

    def parts(self, reply: Reply) -> list[str]:
        return [p for p in reply.text.split("|") if p]

    async def deliver(self, recipient: str, part: str) -> str | None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.calls.append((recipient, part, started))
        if self.delay:
            await asyncio.sleep(self.delay)
        self.spans.append((recipient, part, started, loop.time()))
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                raise failure
        self.delivered.append((recipient, part))
        return f"ref-{len(self.delivered)}"


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[Any]:
    engine = create_engine(db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def core(
    sm: Any, channel: ScriptedChannel, policy: RetryPolicy = FAST
) -> tuple[Sender, Dispatcher]:
    sender = Sender(sm, policy)
    sender.add_channel(channel)
    dispatcher = Dispatcher(sender, poll_interval=0.05)
    return sender, dispatcher


async def final_states(
    sm: Any, ids: list[int], timeout: float = 10.0
) -> list[tuple[str, str | None]]:
    async with asyncio.timeout(timeout):
        while True:
            async with sm() as session:
                states = await outbox.states(session, ids)
            if all(states[i][0] not in outbox.UNFINISHED for i in ids):
                return [states[i] for i in ids]
            await asyncio.sleep(0.02)


async def test_rows_go_out_in_order_and_are_marked_sent_without_their_text(sm: Any) -> None:
    channel = ScriptedChannel()
    sender, _ = core(sm, channel)
    ids = await sender.send_now("fake", "u1", [Reply("một|hai"), Reply("ba")])
    assert channel.delivered == [("u1", "một"), ("u1", "hai"), ("u1", "ba")]
    async with sm() as session:
        rows = (await session.execute(select(OutboxEntry).order_by(OutboxEntry.id))).scalars().all()
    assert [r.id for r in rows] == ids
    assert [(r.status, r.payload, r.attempts) for r in rows] == [("sent", None, 1)] * 2
    assert [r.platform_ref for r in rows] == ["ref-2", "ref-3"]


async def test_a_retryable_failure_after_commit_is_retried_and_delivered(sm: Any) -> None:
    channel = ScriptedChannel(failures=[SendError("HTTP 502", retryable=True)] * 2)
    sender, dispatcher = core(sm, channel)
    dispatcher.start()
    try:
        ids = await sender.send_now("fake", "u1", [Reply("xin chào")])
        assert await final_states(sm, ids) == [("sent", None)]
    finally:
        await dispatcher.stop()
    assert channel.delivered == [("u1", "xin chào")]
    assert len(channel.calls) == 3


async def test_a_permanent_failure_is_recorded_with_its_reason_and_the_next_row_goes(
    sm: Any,
) -> None:
    channel = ScriptedChannel(failures=[SendError("telegram refused the request: chat not found")])
    sender, _ = core(sm, channel)
    ids = await sender.send_now("fake", "u1", [Reply("một"), Reply("hai")])
    assert await final_states(sm, ids) == [
        ("failed", "telegram refused the request: chat not found"),
        ("sent", None),
    ]
    assert len(channel.calls) == 2  # not retried


async def test_retries_are_bounded_then_failed_with_the_reason(sm: Any) -> None:
    channel = ScriptedChannel(failures=[SendError("HTTP 500", retryable=True)] * 10)
    sender, dispatcher = core(sm, channel)
    dispatcher.start()
    try:
        ids = await sender.send_now("fake", "u1", [Reply("một")])
        [(status, error)] = await final_states(sm, ids)
    finally:
        await dispatcher.stop()
    assert status == "failed" and error == "retries exhausted: HTTP 500"
    assert len(channel.calls) == FAST.max_attempts


async def test_retry_after_is_waited_for(sm: Any) -> None:
    channel = ScriptedChannel(failures=[SendError("flood control", retry_after=0.6)])
    sender, dispatcher = core(sm, channel)
    dispatcher.start()
    try:
        ids = await sender.send_now("fake", "u1", [Reply("một")])
        assert await final_states(sm, ids) == [("sent", None)]
    finally:
        await dispatcher.stop()
    first, second = channel.calls
    assert second[2] - first[2] >= 0.55


async def test_a_gone_contact_fails_their_rows_and_is_unsubscribed(sm: Any) -> None:
    async with sm() as session:
        user = User(channel="fake", external_id="u9", state={}, role="villager", reachable=True)
        session.add(user)
        await session.flush()
        session.add(Subscription(user_id=user.id, channel="fake", active=True))
        await session.commit()
    channel = ScriptedChannel(failures=[SendError("blocked the bot", gone=True)])
    sender, _ = core(sm, channel)
    ids = await sender.send_now("fake", "u9", [Reply("một"), Reply("hai")])
    assert await final_states(sm, ids) == [("failed", "gone: blocked the bot"), ("failed", "gone")]
    async with sm() as session:
        user = (await session.execute(select(User))).scalar_one()
        sub = (await session.execute(select(Subscription))).scalar_one()
    assert (user.reachable, sub.active) == (False, False)
    assert len(channel.calls) == 1


async def test_a_reply_of_several_parts_resumes_at_the_part_not_sent(sm: Any) -> None:
    channel = ScriptedChannel(failures=[None, SendError("timeout", retryable=True)])
    sender, dispatcher = core(sm, channel)
    dispatcher.start()
    try:
        ids = await sender.send_now("fake", "u1", [Reply("một|hai|ba")])
        assert await final_states(sm, ids) == [("sent", None)]
    finally:
        await dispatcher.stop()
    assert channel.delivered == [("u1", "một"), ("u1", "hai"), ("u1", "ba")]  # "một" sent once


async def test_rows_left_queued_by_a_dead_process_are_sent_by_the_dispatcher(sm: Any) -> None:
    """A process committed a turn (its rows are queued) and died before sending them."""
    async with sm() as session:
        ids = (
            await outbox.add_replies(
                session, channel="fake", recipient="u1", replies=[Reply("một"), Reply("hai")]
            )
        ).ids
        await session.commit()
    channel = ScriptedChannel()
    _, dispatcher = core(sm, channel)
    dispatcher.start()
    try:
        assert await final_states(sm, ids) == [("sent", None)] * 2
    finally:
        await dispatcher.stop()
    assert channel.delivered == [("u1", "một"), ("u1", "hai")]


async def test_a_lapsed_lease_is_taken_again(sm: Any) -> None:
    """A process died while sending (its row is `sending`): after the lease it is sent again."""
    async with sm() as session:
        [row] = (
            await outbox.add_replies(
                session, channel="fake", recipient="u1", replies=[Reply("một")]
            )
        ).ids
        await session.commit()
        claimed = await outbox.claim_next(session, "fake", "u1", timedelta(seconds=0.4))
    assert claimed is not None and claimed.id == row
    channel = ScriptedChannel()
    sender, dispatcher = core(sm, channel)
    assert await sender.flush("fake", "u1") == 0  # the lease is live: nobody else sends
    dispatcher.start()
    try:
        assert await final_states(sm, [row]) == [("sent", None)]
    finally:
        await dispatcher.stop()
    assert channel.delivered == [("u1", "một")]


async def test_two_senders_on_one_database_keep_a_recipients_order(sm: Any) -> None:
    """Two processes' sender cores flush the same recipients at once: each recipient's rows still
    leave one at a time, in id order, and each row once."""
    channel_a, channel_b = ScriptedChannel(delay=0.005), ScriptedChannel(delay=0.005)
    a, _ = core(sm, channel_a)
    b, _ = core(sm, channel_b)
    recipients = [f"u{i}" for i in range(4)]
    for n in range(8):
        for r in recipients:
            await a.enqueue("fake", r, [Reply(f"{r}-{n}")])
    await asyncio.gather(*(s.flush("fake", r) for r in recipients for s in (a, b)))
    delivered = channel_a.delivered + channel_b.delivered
    assert sorted(delivered) == sorted((r, f"{r}-{n}") for r in recipients for n in range(8))
    for r in recipients:  # both processes' sends to one recipient: in order, never overlapping
        spans = sorted(
            (start, end, part)
            for c in (channel_a, channel_b)
            for who, part, start, end in c.spans
            if who == r
        )
        assert [p for _s, _e, p in spans] == [f"{r}-{n}" for n in range(8)]
        assert all(nxt[0] >= prev[1] for prev, nxt in zip(spans, spans[1:], strict=False))


async def test_a_row_waiting_for_its_retry_holds_back_the_recipients_later_rows(sm: Any) -> None:
    channel = ScriptedChannel(failures=[SendError("HTTP 503", retryable=True)])
    # A retry later than the second send_now takes, even on a loaded machine.
    sender, dispatcher = core(sm, channel, RetryPolicy(max_attempts=4, base_delay=1.0))
    first = await sender.send_now("fake", "u1", [Reply("một")])
    second = await sender.send_now("fake", "u1", [Reply("hai")])
    assert channel.delivered == []  # "hai" waits for "một"
    dispatcher.start()
    try:
        assert await final_states(sm, first + second) == [("sent", None)] * 2
    finally:
        await dispatcher.stop()
    assert channel.delivered == [("u1", "một"), ("u1", "hai")]


async def test_receipts_mark_sent_rows_delivered_then_read(sm: Any) -> None:
    channel = ScriptedChannel()
    sender, _ = core(sm, channel)
    [row] = await sender.send_now("fake", "u1", [Reply("một")])
    async with sm() as session:
        assert await outbox.mark_receipt(session, "fake", ["ref-1"], "read") == 1
        assert (
            await outbox.mark_receipt(session, "fake", ["ref-1"], "delivered") == 0
        )  # no step back
        await session.commit()
        assert await outbox.states(session, [row]) == {row: ("read", None)}


async def test_an_interrupted_send_hands_its_row_back(sm: Any) -> None:
    """Shutdown cancels a send in flight: the row is queued again at once (no lease to wait)."""
    channel = ScriptedChannel(delay=5.0)
    sender, _ = core(sm, channel, RetryPolicy(lease_seconds=600))
    [row] = await sender.enqueue("fake", "u1", [Reply("một")])
    task = asyncio.create_task(sender.flush("fake", "u1"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with sm() as session:
        entry = await session.get(OutboxEntry, row)
        assert (entry.status, entry.lease_until) == ("queued", None)
        await session.execute(update(OutboxEntry).values(due_at=datetime.now(UTC)))
        await session.commit()
    channel.delay = 0
    assert await sender.flush("fake", "u1") == 1


async def test_a_turns_replies_are_all_taken_or_all_queued(sm: Any) -> None:
    """With a lease, the rows of one call are written taken for sending when the recipient has
    nothing unsent, every one of them, in order; otherwise every one waits in the queue."""
    lease = timedelta(seconds=30)
    async with sm() as session:
        first = await outbox.add_replies(
            session,
            channel="fake",
            recipient="u1",
            lease=lease,
            replies=[Reply("một"), Reply("hai"), Reply("ba")],
        )
        later = await outbox.add_replies(
            session,
            channel="fake",
            recipient="u1",
            lease=lease,
            replies=[Reply("bốn"), Reply("năm")],
        )
        other = await outbox.add_replies(
            session, channel="fake", recipient="u2", lease=lease, replies=[Reply("sáu")]
        )
        await session.commit()
        states = await outbox.states(session, first.ids + later.ids + other.ids)
    assert [c.reply.text for c in first.claimed] == ["một", "hai", "ba"]
    assert [c.id for c in first.claimed] == first.ids == sorted(first.ids)
    assert later.claimed == [] and [c.reply.text for c in other.claimed] == ["sáu"]
    assert [states[i][0] for i in first.ids + later.ids + other.ids] == [
        "sending",
        "sending",
        "sending",
        "queued",
        "queued",
        "sending",
    ]
