"""Delivery rules on both databases: urgent rows first, the Zalo OA reply window and monthly
proactive quota (the fake OA API enforces both), reasons counted per notice, the shared budget
across two senders, a 429's retry_after held by every sender."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.messages import Reply
from bot.outbox.budget import SharedBudget
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.sender import Limits, RetryPolicy, Sender, SendError
from bot.outbox.window import ReplyWindow, WindowGate
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import Notice, OutboxEntry, User
from bot.storage.repositories import outbox
from tests.channels.conftest_zalo import make_channel
from tests.fakes.zalo_api import FakeZaloApi
from tests.outbox.test_sender import ScriptedChannel

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, lease_seconds=5)


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[Any]:
    engine = create_engine(db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def new_notice(sm: Any, **kw: Any) -> int:
    async with sm() as session:
        notice = Notice(title={"vi": "Tập huấn"}, body={"vi": "Lớp tập huấn"}, **kw)
        session.add(notice)
        await session.commit()
        return notice.id


async def queue(sm: Any, rows: list[dict[str, Any]]) -> None:
    async with sm() as session:
        await outbox.add_many(session, rows)
        await session.commit()


async def settled(sm: Any, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            async with sm() as session:
                if not await outbox.unfinished_count(session):
                    return
            await asyncio.sleep(0.05)


async def test_urgent_rows_go_before_everything_queued_earlier(sm: Any) -> None:
    channel = ScriptedChannel(limits=Limits(per_second=200))
    sender = Sender(sm, FAST)
    sender.add_channel(channel)
    sender.use_shared_budgets()
    training = await new_notice(sm)
    urgent = await new_notice(sm, priority=9)
    reply = Reply("tập huấn")
    await queue(
        sm,
        [
            {"channel": "fake", "recipient": f"t{i}", "reply": reply, "notice_id": training}
            for i in range(60)
        ],
    )
    await queue(
        sm,
        [
            {
                "channel": "fake",
                "recipient": f"u{i}",
                "reply": Reply("khẩn"),
                "notice_id": urgent,
                "priority": 9,
            }
            for i in range(10)
        ],
    )
    dispatcher = Dispatcher(sender, poll_interval=0.05, concurrency=8)
    dispatcher.start()
    try:
        await settled(sm)
    finally:
        await dispatcher.stop()
    order = [part for _who, part in channel.delivered]
    assert len(order) == 70
    assert order[:10] == ["khẩn"] * 10, order[:12]


async def test_zalo_window_and_monthly_quota_decide_and_are_counted_by_reason(sm: Any) -> None:
    fake = await FakeZaloApi().start()
    fake.limit_window(hours=48, messages=2, monthly_quota=2)
    now = datetime.now(UTC)
    wrote = {"A": now - timedelta(minutes=5), "B": now - timedelta(days=3)}
    wrote |= {"C": wrote["B"], "D": wrote["B"]}
    async with sm() as session:
        for uid, at in wrote.items():
            session.add(User(channel="zalo", external_id=uid, last_seen_at=at, created_at=at))
            fake.user_wrote(uid, at.timestamp())
        await session.commit()
    free = await new_notice(sm)
    paid = await new_notice(sm, use_quota=True)
    rows = [
        {"channel": "zalo", "recipient": uid, "reply": Reply(f"{uid}{n}"), "notice_id": free}
        for uid, n in (("A", 1), ("A", 2), ("A", 3), ("B", 1))
    ]
    rows += [
        {
            "channel": "zalo",
            "recipient": uid,
            "reply": Reply(f"{uid}q"),
            "notice_id": paid,
            "use_quota": True,
        }
        for uid in "BCD"
    ]
    await queue(sm, rows)
    channel = make_channel(fake, sm)
    sender = Sender(sm, FAST)
    sender.add_channel(channel)
    dispatcher = Dispatcher(sender, poll_interval=0.05)
    gate = WindowGate(sm, "zalo", ReplyWindow(hours=48, messages=2, monthly_quota=2))
    dispatcher.gates["zalo"] = gate
    dispatcher.start()
    try:
        await settled(sm)
        async with sm() as session:
            free_states = await outbox.notice_states(session, free)
            paid_states = await outbox.notice_states(session, paid)
        used = await gate.used()
        # The platform itself refuses past the quota and outside 7 days, with its own codes.
        with pytest.raises(SendError) as spent:
            await channel.deliver("D", channel.parts(Reply("x"))[0])
        with pytest.raises(SendError) as silent:
            await channel.deliver("E", channel.parts(Reply("x"))[0])
    finally:
        await dispatcher.stop()
        await channel.stop()
        await fake.stop()
    assert free_states == {("sent", None): 2, ("failed", "outside_window"): 2}
    assert paid_states == {("sent", None): 2, ("failed", "quota_spent"): 1}
    assert fake.texts("A") == ["A1", "A2"] and fake.window_sent["A"] == 2
    assert len(set(fake.proactive)) == 2 and set(fake.proactive) <= set("BCD") and used == 2
    assert "B1" not in fake.texts("B")
    assert spent.value.kind == "quota_spent" and silent.value.kind == "outside_window"


async def test_two_senders_share_one_budget_through_the_database(sm: Any) -> None:
    """Two budgets on one channel row (two processes): together they give out slots at the
    rate, never the same slot twice."""
    a, b = SharedBudget(sm, "fake", 100.0), SharedBudget(sm, "fake", 100.0)
    stamps: list[float] = []

    async def use(budget: SharedBudget) -> None:
        for _ in range(60):
            await budget.wait()
            stamps.append(time.time())

    started = time.time()
    await asyncio.gather(use(a), use(b))
    took = time.time() - started
    assert took >= 119 / 100 * 0.95, took  # 120 slots at 100/s, from either budget


async def test_retry_after_holds_every_sender_of_the_channel(sm: Any) -> None:
    channel = ScriptedChannel(limits=Limits(per_second=50))
    channel.failures = [SendError("429", retry_after=1.0)]
    sender = Sender(sm, FAST)
    sender.add_channel(channel)
    sender.use_shared_budgets()
    await queue(
        sm, [{"channel": "fake", "recipient": f"r{i}", "reply": Reply(f"m{i}")} for i in range(5)]
    )
    dispatcher = Dispatcher(sender, poll_interval=0.05, concurrency=1)
    dispatcher.start()
    try:
        await settled(sm)
    finally:
        await dispatcher.stop()
    first, second = channel.calls[0][2], channel.calls[1][2]
    assert second - first >= 0.95  # the 429's retry_after was honoured
    async with sm() as session:
        states = (await session.execute(select(OutboxEntry.status))).scalars().all()
    assert set(states) == {"sent"}
    # Another process's budget for the channel is held too: the hold is in the database.
    mine, other = sender.budgets["fake"], SharedBudget(sm, "fake", 50.0)
    await mine.hold(1.0)
    started = time.time()
    await other.wait()
    assert time.time() - started >= 0.95


async def test_blocked_and_exhausted_rows_are_counted_by_reason_and_blocked_unsubscribes(
    sm: Any,
) -> None:
    channel = ScriptedChannel(limits=Limits(per_second=500))
    channel.failures = [SendError("403 blocked", gone=True)] + [
        SendError("502", retryable=True) for _ in range(FAST.max_attempts)
    ]
    async with sm() as session:
        session.add(User(channel="fake", external_id="gone"))
        await session.commit()
    notice = await new_notice(sm)
    await queue(
        sm,
        [
            {"channel": "fake", "recipient": r, "reply": Reply(r), "notice_id": notice}
            for r in ("gone", "flaky")
        ],
    )
    sender = Sender(sm, FAST)
    sender.add_channel(channel)
    dispatcher = Dispatcher(sender, poll_interval=0.05, concurrency=1)
    dispatcher.start()
    try:
        await settled(sm)
    finally:
        await dispatcher.stop()
    async with sm() as session:
        states = await outbox.notice_states(session, notice)
        reachable = (
            await session.execute(select(User.reachable).where(User.external_id == "gone"))
        ).scalar_one()
    assert states == {("failed", "blocked"): 1, ("failed", "retries_exhausted"): 1}
    assert reachable is False
    assert len(channel.calls) == 1 + FAST.max_attempts


async def test_a_row_whose_lease_lapsed_while_waiting_for_its_slot_is_sent_once(sm: Any) -> None:
    """Two dispatchers (two senders on one database) lease more rows than the shared rate
    sends within a lease: rows wait past their lease, the other dispatcher takes them again,
    and the first one, renewing before its send, finds the row gone and leaves it."""
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, lease_seconds=0.6)
    channels, dispatchers = [], []
    for _ in range(2):
        channel = ScriptedChannel(limits=Limits(per_second=10))
        sender = Sender(sm, policy)
        sender.add_channel(channel)
        sender.use_shared_budgets(1.0)
        dispatcher = Dispatcher(sender, poll_interval=0.05, lapsed_interval=0.05)
        dispatcher._cap = lambda _channel: 12  # type: ignore[method-assign]  # lease far ahead
        channels.append(channel)
        dispatchers.append(dispatcher)
    await queue(
        sm, [{"channel": "fake", "recipient": f"r{i}", "reply": Reply(f"m{i}")} for i in range(16)]
    )
    for d in dispatchers:
        d.start()
    try:
        await settled(sm, timeout=30)
        await asyncio.sleep(0.5)
    finally:
        for d in dispatchers:
            await d.stop()
    sent = [part for c in channels for _who, part in c.delivered]
    assert sorted(sent) == sorted(f"m{i}" for i in range(16)), sorted(sent)
