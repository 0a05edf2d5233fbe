"""The pipeline's concurrency on SQLite and PostgreSQL: one user's messages in order, the write gate
(one transaction at a time on SQLite, several on PostgreSQL), inbox records queued in process, and
failed attempts counted in the inbox.

The pipelines here run the real inbox and user middlewares and a probe for the dialogue, which
sleeps inside the transaction for a while (seeded random, or until the test lets it go).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.app import build_pipeline
from bot.core.context import Context
from bot.core.middlewares import dedup, user
from bot.core.pipeline import Pipeline, TurnFailed
from bot.storage.models import InboxEntry
from bot.storage.repositories import inbox
from tests.conftest import message


class Probe:
    """A dialogue that notes what it handled and how many transactions were open at once."""

    def __init__(self, seed: int = 7, max_delay: float = 0.01) -> None:
        self.rng = random.Random(seed)
        self.max_delay = max_delay
        self.handled: list[tuple[str, str]] = []
        self.active = self.peak = 0
        self.inside = asyncio.Event()  # a turn is in its transaction
        self.release: asyncio.Event | None = None  # set: turns wait for it inside the transaction
        self.fail_with: Exception | None = None

    async def __call__(self, ctx: Context) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            self.inside.set()
            if self.release is not None:
                await self.release.wait()
            else:
                await asyncio.sleep(self.rng.random() * self.max_delay)
            if self.fail_with is not None:
                raise self.fail_with
            self.handled.append((ctx.msg.sender_id, ctx.msg.text))
            ctx.say(f"ok {ctx.msg.text}")
        finally:
            self.active -= 1


def probe_pipeline(services: Any, probe: Probe) -> Pipeline:
    return Pipeline(services, [dedup, user], probe)


async def record_one(services: Any, channel: str, message_id: str, payload: dict) -> bool:
    return (await record_many(services, channel, [(message_id, payload)]))[0]


async def record_many(services: Any, channel: str, items: list) -> list[bool]:
    """What the inbound worker does before a channel acknowledges: through the write gate."""
    async with services.writing() as session:
        return await inbox.record_many(session, channel, [(i, None, p) for i, p in items])


def interleaved(users: int, per_user: int, channel: str = "web") -> list:
    return [
        message(f"{u}-{i}", sender=f"order-{u}", channel=channel)
        for i in range(per_user)
        for u in range(users)
    ]


def by_user(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sender, text in pairs:
        out.setdefault(sender, []).append(text)
    return out


async def test_one_users_messages_are_handled_and_answered_in_order(services: Any) -> None:
    probe = Probe()
    pipeline = probe_pipeline(services, probe)
    msgs = interleaved(users=5, per_user=8)
    delivered: list[tuple[str, str]] = []
    rng = random.Random(11)

    async def channel_like(msg: Any) -> None:
        # Hold the user's turn across handle and a (slow, uneven) step after it.
        async with services.ordering.hold(msg.channel, msg.sender_id):
            turn = await pipeline.handle(msg)
            await asyncio.sleep(rng.random() * 0.2)
            delivered.extend((msg.sender_id, r.text) for r in turn.replies)

    async with asyncio.timeout(60):
        # Half through a channel, half straight to handle (the web chat): same order either way.
        await asyncio.gather(
            *(channel_like(m) if i % 2 else pipeline.handle(m) for i, m in enumerate(msgs))
        )
    assert by_user(probe.handled) == by_user([(m.sender_id, m.text) for m in msgs])
    answered = {
        u: [t.removeprefix("ok ") for t in texts] for u, texts in by_user(delivered).items()
    }
    assert answered == by_user([(m.sender_id, m.text) for i, m in enumerate(msgs) if i % 2])
    assert len(services.ordering.local) == 0  # lock entries are dropped once unused


async def test_the_gate_lets_one_transaction_at_a_time_on_sqlite_several_on_postgresql(
    services: Any,
) -> None:
    probe = Probe(max_delay=0.02)
    pipeline = probe_pipeline(services, probe)
    async with asyncio.timeout(60):
        await asyncio.gather(
            *(pipeline.handle(message("hi", sender=f"gate-{i}")) for i in range(30))
        )
    assert len(probe.handled) == 30
    gate = services.writes
    if gate.sqlite:
        assert gate.transactions == 1
        assert probe.peak == 1
    else:
        assert 1 < probe.peak <= gate.transactions


async def test_max_transactions_is_settable(services: Any) -> None:
    probe = Probe(max_delay=0.02)
    pipeline = Pipeline(services, [dedup, user], probe, max_transactions=2)
    assert services.writes.transactions == 2
    async with asyncio.timeout(60):
        await asyncio.gather(
            *(pipeline.handle(message("hi", sender=f"two-{i}")) for i in range(12))
        )
    assert probe.peak <= 2
    with pytest.raises(ValueError, match="transactions"):
        services.writes.limit(0)
    services.settings = dataclasses.replace(
        services.settings, database_max_transactions=3
    )  # config.yml
    build_pipeline(services)
    assert services.writes.transactions == 3


@pytest.fixture
def impatient_sqlite(app_parts: tuple) -> None:
    """SQLite gives up on its write lock after 50 ms instead of 5 s: a record that waited in
    SQLite's busy loop behind the long transaction below would fail with "database is locked"."""
    engine = app_parts[1]
    if engine.dialect.name != "sqlite":
        return

    def short_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=50")
        cur.close()

    event.listen(engine.sync_engine, "connect", short_busy_timeout)


async def test_a_record_during_a_long_transaction_waits_its_turn(
    services: Any, app_parts: tuple, impatient_sqlite: None
) -> None:
    await app_parts[1].dispose()  # new connections take the short busy timeout
    probe = Probe()
    probe.release = asyncio.Event()
    pipeline = probe_pipeline(services, probe)
    async with asyncio.timeout(30):
        turn = asyncio.create_task(pipeline.handle(message("long", sender="long-turn")))
        await (
            probe.inside.wait()
        )  # the claim is written: on SQLite the transaction holds the write lock
        record = asyncio.create_task(record_one(services, "telegram", "9001", {"update_id": 9001}))
        batch = asyncio.create_task(
            record_many(
                services,
                "telegram",
                [
                    ("9002", {"update_id": 9002}),
                    ("9003", {"update_id": 9003}),
                    ("9002", {"update_id": 9002}),
                ],
            )
        )
        await asyncio.sleep(0.3)  # six times SQLite's busy timeout
        if services.writes.sqlite:
            assert not record.done() and not batch.done()  # queued in process
        else:
            assert await record is True  # PostgreSQL: records do not wait for turns
            assert await batch == [True, True, False]
            assert not turn.done()
        probe.release.set()
        assert (await turn).replies
        assert await record is True
        assert await batch == [True, True, False]
        assert not await record_one(
            services, "telegram", "9003", {"update_id": 9003}
        )  # already there
    async with services.sessionmaker() as session:
        rows = (
            await session.execute(
                select(InboxEntry.message_id, InboxEntry.status)
                .where(InboxEntry.channel == "telegram")
                .order_by(InboxEntry.id)
            )
        ).all()
    expected = [("9001", "received"), ("9002", "received"), ("9003", "received")]
    if services.writes.sqlite:  # first come, first served
        assert [tuple(r) for r in rows] == expected
    else:
        assert sorted(tuple(r) for r in rows) == expected


async def test_a_failed_turn_is_counted_in_the_inbox_without_the_users_text(services: Any) -> None:
    probe = Probe()
    probe.fail_with = RuntimeError("xin chào, số tôi là 0912345678")  # text that must not be stored
    pipeline = probe_pipeline(services, probe)
    assert await record_one(services, "zalo", "poison-1", {"text": "xin chào"})
    msg = message("xin chào", sender="poison", channel="zalo", message_id="poison-1")

    async def entry() -> InboxEntry:
        async with services.sessionmaker() as session:
            return (
                await session.execute(select(InboxEntry).where(InboxEntry.message_id == "poison-1"))
            ).scalar_one()

    with pytest.raises(TurnFailed):
        await pipeline.handle(msg)  # the live attempt, right after the record
    first = await entry()
    assert (first.status, first.attempts, first.error, first.payload) == (
        "received",
        1,
        "RuntimeError",
        {"text": "xin chào"},
    )  # left to resume
    restarts = 0
    while True:  # each restart resumes what is pending
        async with services.writing() as session:
            resumed = [e.message_id for e in await inbox.pending(session, ["zalo"])]
        if not resumed:
            break
        restarts += 1
        assert resumed == ["poison-1"] and restarts < 2 * inbox.MAX_ATTEMPTS
        with pytest.raises(TurnFailed):
            await pipeline.handle(msg)
    last = await entry()
    assert (last.status, last.attempts, last.payload, last.error) == (
        "failed",
        inbox.MAX_ATTEMPTS,
        None,
        "RuntimeError",
    )
    assert restarts == inbox.MAX_ATTEMPTS - 1  # tried MAX_ATTEMPTS times in all, then never again
    assert len(services.ordering.local) == 0
