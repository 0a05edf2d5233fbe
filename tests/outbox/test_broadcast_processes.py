"""A broadcast through real dispatcher processes on one PostgreSQL, against the fake Telegram API
enforcing Telegram's rate limit (429 beyond it):

- SIGKILL of the only dispatcher halfway, then a restart: every recipient gets the notice, and
  only what was in flight at the kill (rows leased, not yet marked sent) may arrive twice;
- two dispatchers at once: no recipient twice, the combined rate within the limit (they share
  the budget through the database), and when one is killed halfway, the other takes over its
  leased rows once their lease lapses and finishes the broadcast.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from bot.messages import Reply
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.repositories import outbox
from tests.inbound.harness import Platforms
from tests.processes import free_port

FIRST_CHAT = 7_300_000_001


async def seed(db_url: str, count: int) -> list[int]:
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as session:
            reply = Reply("Thông báo: lớp tập huấn trồng keo ngày 12/12")
            chats = [FIRST_CHAT + i for i in range(count)]
            rows = [
                {"channel": "telegram", "recipient": str(c), "reply": reply, "source": "notice"}
                for c in chats
            ]
            assert await outbox.add_many(session, rows) == count
            await session.commit()
        return chats
    finally:
        await engine.dispose()


def received(platforms: Platforms) -> Counter:
    return Counter(c.chat_id for c in platforms.telegram.calls_of("sendMessage", ok=True))


async def until(platforms: Platforms, predicate, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            tail = "\n".join(platforms.logs().splitlines()[-30:])
            raise AssertionError(f"timed out waiting for {what}:\n{tail}")
        await asyncio.sleep(0.05)


def rate_while_both_ran(platforms: Platforms, until: float) -> float:
    """Sends a second the fake accepted from the first send to `until` (the kill)."""
    times = sorted(c.at for c in platforms.telegram.calls_of("sendMessage", ok=True))
    times = [t for t in times if t <= until]
    return (len(times) - 1) / (times[-1] - times[0])


async def start_dispatcher(platforms: Platforms, rate: int):
    port = free_port()
    return await platforms.start_bot(
        port=port,
        args=("--role", "dispatcher"),
        DISPATCHER_PORT=str(port),
        TELEGRAM_RATE_PER_SECOND=str(rate),
        OUTBOX_LEASE_SECONDS="2",
    )


async def in_flight(platforms: Platforms) -> int:
    return (await platforms.query("SELECT count(*) FROM outbox WHERE status = 'sending'"))[0][0]


async def test_sigkill_mid_broadcast_loses_nobody_and_repeats_only_the_sends_in_flight(
    tmp_path: Path,
) -> None:
    rate, count = 150, 2000
    async with Platforms(tmp_path) as platforms:
        platforms.telegram.limit_rate(rate, 0.0)
        chats = await seed(platforms.db_url, count)
        bot = await start_dispatcher(platforms, rate)
        await until(
            platforms, lambda: sum(received(platforms).values()) >= count // 2, 60, "half sent"
        )
        await bot.kill()
        leased = await in_flight(platforms)  # leased, not marked sent: may have gone out
        at_kill = received(platforms)
        assert 0 < sum(at_kill.values()) < count and max(at_kill.values()) == 1
        await start_dispatcher(platforms, rate)
        await until(platforms, lambda: len(received(platforms)) >= count, 90, "every recipient")
        await asyncio.sleep(1.0)  # a second send would show by now
        got = received(platforms)
        states = Counter(r[0] for r in await platforms.query("SELECT status FROM outbox"))
        too_many = platforms.telegram.too_many
    assert set(got) == set(chats)  # nobody lost
    twice = sum(n - 1 for n in got.values())
    assert twice <= leased, (twice, leased)
    assert states == {"sent": count}
    assert too_many == 0


async def test_two_dispatchers_share_the_rate_and_one_finishes_when_the_other_is_killed(
    tmp_path: Path,
) -> None:
    rate, count = 80, 1200
    async with Platforms(tmp_path) as platforms:
        platforms.telegram.limit_rate(rate, 0.0)
        chats = await seed(platforms.db_url, count)
        first = await start_dispatcher(platforms, rate)
        await start_dispatcher(platforms, rate)
        await until(
            platforms, lambda: sum(received(platforms).values()) >= count // 2, 60, "half sent"
        )
        before_kill = received(platforms)
        killed_at = time.monotonic()
        await first.kill()
        leased = await in_flight(platforms)
        await until(platforms, lambda: len(received(platforms)) >= count, 90, "every recipient")
        await asyncio.sleep(1.0)
        got = received(platforms)
        states = Counter(r[0] for r in await platforms.query("SELECT status FROM outbox"))
        too_many = platforms.telegram.too_many
        rate_of_two = rate_while_both_ran(platforms, killed_at)
    assert max(before_kill.values()) == 1  # two dispatchers at work: nobody got it twice
    assert set(got) == set(chats)
    assert sum(n - 1 for n in got.values()) <= leased
    assert states == {"sent": count}
    assert too_many == 0 and rate_of_two <= rate, (too_many, rate_of_two)
