"""The inbound worker on SQLite and PostgreSQL, with a scripted push channel and the real pipeline.

The channel's payloads are small dicts (`{"id", "from", "text"}`); `parse` turns them into
messages, contact-gone events or receipts, and `deliver` records what would go to the platform.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import build_worker
from bot.inbound.worker import InboundWorker
from bot.messages import ContactGone, Inbound, IncomingMessage, Receipt, Reply
from bot.outbox.sender import Limits, RetryPolicy
from bot.storage.models import InboxEntry, OutboxEntry, Subscription, User
from bot.storage.repositories import inbox, outbox
from tests.channels.conftest import settle_worker

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)
HELP = "Tôi có thể giúp bạn"


@dataclass
class ScriptedChannel:
    name: str = "fake"
    limits: Limits = field(default_factory=lambda: Limits(per_second=10_000))
    delivered: list[tuple[str, str]] = field(default_factory=list)

    def parse(self, payload: dict[str, Any]) -> Inbound | None:
        if payload.get("ignore"):
            return None
        who, key = str(payload["from"]), str(payload["id"])
        if payload.get("gone"):
            return ContactGone(self.name, who, key)
        if payload.get("read"):
            return Receipt(self.name, who, key, tuple(payload["read"]), "read")
        return IncomingMessage(
            channel=self.name, sender_id=who, message_id=key, text=str(payload.get("text", ""))
        )

    def parts(self, reply: Reply) -> list[str]:
        return [reply.text]

    async def deliver(self, recipient: str, part: str) -> str | None:
        self.delivered.append((recipient, part))
        return f"ref-{len(self.delivered)}"

    def texts(self, who: str) -> list[str]:
        return [text for r, text in self.delivered if r == who]


def make(
    pipeline: Any, channel: ScriptedChannel | None = None
) -> tuple[InboundWorker, ScriptedChannel]:
    channel = channel or ScriptedChannel()
    worker = build_worker(pipeline, [channel], FAST)
    worker.dispatcher.poll_interval = 0.05
    return worker, channel


async def inbox_row(services: Any, key: str) -> InboxEntry | None:
    async with services.sessionmaker() as session:
        return (
            await session.execute(select(InboxEntry).where(InboxEntry.message_id == key))
        ).scalar_one_or_none()


async def test_recorded_before_accept_returns_then_answered(pipeline: Any, services: Any) -> None:
    worker, channel = make(pipeline)
    worker._schedule = lambda *_a: False  # type: ignore[method-assign] - look before handling
    assert (
        await worker.accept(
            "fake", [{"id": "k1", "from": "u1", "text": "/help"}, {"id": "k0", "ignore": True}]
        )
        == 1
    )
    row = await inbox_row(services, "k1")
    assert (row.status, row.sender, row.payload["text"]) == ("received", "u1", "/help")
    assert await inbox_row(services, "k0") is None  # nothing to answer, nothing kept
    del worker._schedule
    await worker.start()
    try:
        await settle_worker(worker, 15)
    finally:
        await worker.stop()
    assert len(channel.texts("u1")) == 1 and HELP in channel.texts("u1")[0]
    row = await inbox_row(services, "k1")
    assert (row.status, row.sender, row.payload) == ("done", None, None)


async def test_a_payload_accepted_twice_is_answered_once(pipeline: Any) -> None:
    worker, channel = make(pipeline)
    await worker.start()
    try:
        payload = {"id": "k2", "from": "u2", "text": "/help"}
        assert await worker.accept("fake", [payload]) == 1
        assert await worker.accept("fake", [payload, payload]) == 0
        await settle_worker(worker, 15)
    finally:
        await worker.stop()
    assert len(channel.texts("u2")) == 1


async def test_requests_that_come_together_are_recorded_in_one_transaction(
    pipeline: Any, services: Any
) -> None:
    """Webhook requests waiting for the write gate (behind a turn, on SQLite) record their
    payloads together; each gets its own answer, a key in two of them is new once, and each
    returns only once its rows are committed."""
    worker, _channel = make(pipeline)
    worker._schedule = lambda *_a: False  # type: ignore[method-assign] - recording only
    before = worker._records.batches
    payloads = [[{"id": f"g{i}", "from": f"ug{i}", "text": "/help"}] for i in range(6)]
    payloads.append([{"id": "g0", "from": "ug0", "text": "/help"}])  # a redelivery of the first
    gated = services.writes.sqlite  # PostgreSQL has no write gate: nothing to queue behind
    async with services.writing():  # a writer holds the gate meanwhile: the requests queue
        pending = [asyncio.ensure_future(worker.accept("fake", p)) for p in payloads]
        await asyncio.sleep(0.05)
        if gated:
            assert not any(task.done() for task in pending)  # none answered before written
    new = await asyncio.gather(*pending)
    assert new == [1, 1, 1, 1, 1, 1, 0]
    if gated:
        assert worker._records.batches - before == 1
    for i in range(6):
        assert (await inbox_row(services, f"g{i}")).status == "received"


async def test_messages_a_dead_process_recorded_are_resumed_at_start(
    pipeline: Any, services: Any
) -> None:
    dead, _ = make(pipeline)
    dead._schedule = lambda *_a: False  # type: ignore[method-assign] - killed after recording
    await dead.accept(
        "fake", [{"id": f"r{i}", "from": "u3", "text": t} for i, t in enumerate(["/help", "/xyz"])]
    )
    worker, channel = make(pipeline)
    await worker.start()
    try:
        await settle_worker(worker, 15)
    finally:
        await worker.stop()
    texts = channel.texts("u3")
    assert len(texts) == 2 and HELP in texts[0] and "Tôi không biết lệnh này" in texts[1]


async def test_one_users_messages_go_oldest_first_whoever_recorded_them(pipeline: Any) -> None:
    """Process A recorded two messages and has not handled them yet; process B records the third
    and handles all three, in the order they were recorded."""
    a, _ = make(pipeline)
    a._schedule = lambda *_a: False  # type: ignore[method-assign]
    await a.accept("fake", [{"id": "o1", "from": "u4", "text": "/xyz"}])
    await a.accept("fake", [{"id": "o2", "from": "u4", "text": "/human"}])
    b, channel = make(pipeline)
    b.dispatcher.start()
    try:
        await b.accept("fake", [{"id": "o3", "from": "u4", "text": "/help"}])
        await settle_worker(b, 15)
    finally:
        await b.stop()
    texts = channel.texts("u4")
    # /human: the contact, then the offer to talk to a person (its consent notice)
    assert len(texts) == 4, texts
    assert "Tôi không biết lệnh này" in texts[0] and "UBND xã" in texts[1] and HELP in texts[3]


async def test_a_poison_message_is_given_up_and_the_next_one_answered(
    pipeline: Any, services: Any
) -> None:
    real = services.nlu.parse
    calls: list[str] = []

    async def parse(text: str, lang: str) -> Any:
        if "nhà" in text:
            calls.append(text)
            raise RuntimeError(f"cannot parse {text}")
        return await real(text, lang)

    services.nlu.parse = parse
    worker, channel = make(pipeline)
    worker.retry_delay = 0.01
    await worker.start()
    try:
        await worker.accept(
            "fake",
            [
                {"id": "p1", "from": "u5", "text": "hỗ trợ làm nhà"},
                {"id": "p2", "from": "u5", "text": "/help"},
            ],
        )
        await settle_worker(worker, 15)
    finally:
        await worker.stop()
        services.nlu.parse = real
    assert len(calls) == inbox.MAX_ATTEMPTS
    row = await inbox_row(services, "p1")
    assert (row.status, row.attempts, row.error, row.payload) == (
        "failed",
        inbox.MAX_ATTEMPTS,
        "RuntimeError",
        None,
    )
    assert len(channel.texts("u5")) == 1 and HELP in channel.texts("u5")[0]


async def test_the_sweep_takes_up_a_message_left_behind(pipeline: Any, services: Any) -> None:
    """A message whose handling could not even be counted (the database was away) stays recorded;
    the periodic sweep takes it up without a restart."""
    worker, channel = make(pipeline)
    worker.sweep_interval, worker.stale_after = 0.1, 0.0
    await worker.start()
    live = worker._schedule
    worker._schedule = lambda *_a: False  # type: ignore[method-assign] - the first try is lost
    await worker.accept("fake", [{"id": "s1", "from": "u6", "text": "/help"}])
    worker._schedule = live  # type: ignore[method-assign]
    assert channel.texts("u6") == []
    try:
        async with asyncio.timeout(10):
            while not channel.texts("u6"):
                await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert len(channel.texts("u6")) == 1


async def test_a_contact_gone_event_unsubscribes_and_fails_unsent_rows(
    pipeline: Any, services: Any
) -> None:
    async with services.sessionmaker() as session:
        user = User(channel="fake", external_id="u7", state={}, role="villager", reachable=True)
        session.add(user)
        await session.flush()
        session.add(Subscription(user_id=user.id, channel="fake", active=True))
        [row] = (
            await outbox.add_replies(
                session, channel="fake", recipient="u7", replies=[Reply("thông báo")]
            )
        ).ids
        await session.execute(
            update(OutboxEntry).values(due_at=datetime.now(UTC) + timedelta(hours=1))
        )
        await session.commit()
    worker, channel = make(pipeline)
    await worker.start()
    try:
        await worker.accept("fake", [{"id": "g1", "from": "u7", "gone": True}])
        await worker.drain(10)
    finally:
        await worker.stop()
    async with services.sessionmaker() as session:
        user = (await session.execute(select(User).where(User.external_id == "u7"))).scalar_one()
        sub = (await session.execute(select(Subscription))).scalar_one()
        states = await outbox.states(session, [row])
    assert (user.reachable, sub.active, states[row]) == (False, False, ("failed", "gone"))
    assert channel.delivered == []
    assert (await inbox_row(services, "g1")).status == "done"


async def test_a_read_receipt_marks_the_sent_row(pipeline: Any, services: Any) -> None:
    worker, channel = make(pipeline)
    await worker.start()
    try:
        await worker.accept("fake", [{"id": "m1", "from": "u8", "text": "/help"}])
        await settle_worker(worker, 15)
        await worker.accept("fake", [{"id": "m2", "from": "u8", "read": ["ref-1"]}])
        await worker.drain(10)
    finally:
        await worker.stop()
    async with services.sessionmaker() as session:
        statuses = (await session.execute(select(OutboxEntry.status))).scalars().all()
    assert statuses == ["read"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_pull_channels_get_their_replies_and_a_retry_gets_the_unsent_ones(
    pipeline: Any, services: Any
) -> None:
    from tests.conftest import message

    worker, _ = make(pipeline)
    msg = message("/help", sender="web-user-1", message_id="web-msg-0001")
    first = await worker.converse(msg)
    assert HELP in first.replies[0].text
    again = await worker.converse(msg)  # the reply was handed over: nothing is handed twice
    assert again.duplicate and again.replies == []
    # a turn committed, then the request died before its answer: the retry gets the replies
    lost = message("/xyz", sender="web-user-1", message_id="web-msg-0002")
    await pipeline.handle(lost)
    retried = await worker.converse(lost)
    assert retried.duplicate and "Tôi không biết lệnh này" in retried.replies[0].text
    async with services.sessionmaker() as session:
        assert set((await session.execute(select(OutboxEntry.status))).scalars()) == {"sent"}


async def test_the_sweep_leaves_alone_what_is_waiting_in_line(pipeline: Any, services: Any) -> None:
    """Messages that wait behind a slow turn are not left behind: a sweep that runs meanwhile
    neither spends their attempts nor gives them up."""
    real = services.nlu.parse

    async def slow(text: str, lang: str) -> Any:
        await asyncio.sleep(0.3)
        return await real(text, lang)

    services.nlu.parse = slow
    worker, channel = make(pipeline)
    worker.sweep_interval, worker.stale_after = 0.1, 0.1
    await worker.start()
    try:
        await worker.accept(
            "fake", [{"id": f"q{i}", "from": "u9", "text": "xin chào"} for i in range(8)]
        )
        await settle_worker(worker, 30)
    finally:
        await worker.stop()
        services.nlu.parse = real
    async with services.sessionmaker() as session:
        rows = (
            await session.execute(
                select(InboxEntry.status, InboxEntry.attempts).where(InboxEntry.sender.is_(None))
            )
        ).all()
    assert [tuple(r) for r in rows] == [("done", 1)] * 8
    assert len({r for r, _text in channel.delivered}) == 1 and len(channel.delivered) >= 8


async def test_a_rolled_back_turn_leaves_the_users_memory_as_it_was(
    pipeline: Any, services: Any
) -> None:
    """The first try of a new user's question fails after the dialogue asked for the language:
    the retry asks again (the rolled-back try left nothing behind, in the database or memory)."""
    real, failures = outbox.add_replies, []

    async def fail_once(*args: Any, **kw: Any) -> Any:
        if not failures:
            failures.append(1)
            raise ConnectionError("database went away")
        return await real(*args, **kw)

    worker, channel = make(pipeline)
    worker.retry_delay = 0.01
    outbox.add_replies = fail_once
    try:
        await worker.start()
        await worker.accept("fake", [{"id": "lang1", "from": "u10", "text": "hỗ trợ làm nhà"}])
        await settle_worker(worker, 15)
    finally:
        outbox.add_replies = real
        await worker.stop()
    assert failures == [1]
    assert any("Mời bạn chọn ngôn ngữ" in t for t in channel.texts("u10")), channel.texts("u10")
