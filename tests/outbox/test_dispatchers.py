"""Several dispatchers on one PostgreSQL never send a row twice, and the process roles:
`run --role web` sends each turn's replies at once but retries nothing; `run --role dispatcher`
retries (and resumes) for every web process, and serves only `/healthz`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bot.messages import Reply
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.sender import Limits, RetryPolicy, Sender
from bot.storage.db import create_engine, create_sessionmaker
from tests.inbound.harness import Platforms
from tests.processes import free_port


class Recording:
    name = "fake"
    limits = Limits(per_second=100_000)

    def __init__(self, log: list[tuple[str, str, str]], who: str) -> None:
        self.log, self.who = log, who

    def parts(self, reply: Reply) -> list[str]:
        return [reply.text]

    async def deliver(self, recipient: str, part: str) -> str:
        await asyncio.sleep(0.002)
        self.log.append((self.who, recipient, part))
        return "ref"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_dispatchers_on_one_postgresql_send_each_row_once_in_order(db_url: str) -> None:
    """Two processes' dispatchers (two engines) poll the same due rows: the claims' leases give
    each row to one of them, and one recipient's rows still go in order."""
    log: list[tuple[str, str, str]] = []
    engines = [create_engine(db_url), create_engine(db_url)]
    dispatchers = []
    try:
        for who, engine in zip("ab", engines, strict=True):
            sender = Sender(create_sessionmaker(engine), RetryPolicy(lease_seconds=30))
            sender.add_channel(Recording(log, who))  # type: ignore[arg-type]
            dispatchers.append(Dispatcher(sender, poll_interval=0.02, concurrency=8))
        first = dispatchers[0].sender
        recipients = [f"r{i}" for i in range(40)]
        for n in range(5):
            for r in recipients:
                await first.enqueue("fake", r, [Reply(f"{r}-{n}")])
        for d in dispatchers:
            d.start()
        for _ in range(400):
            if len(log) >= 200:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a second send would show by now
    finally:
        for d in dispatchers:
            await d.stop()
        for engine in engines:
            await engine.dispose()
    sends = Counter(part for _who, _r, part in log)
    assert len(sends) == 200 and set(sends.values()) == {1}, sends.most_common(3)
    assert {who for who, _r, _p in log} == {"a", "b"}  # both took a share
    for r in recipients:
        assert [p for _w, who, p in log if who == r] == [f"{r}-{n}" for n in range(5)]


async def test_web_processes_send_at_once_and_dispatchers_retry_each_reply_once(
    tmp_path: Path,
) -> None:
    """One `--role web` process and two `--role dispatcher` processes on one PostgreSQL. Every
    chat's first send fails (the Bot API answers 500): the web process sends each reply at once
    (the fast path) but does not retry; the dispatchers do, and each reply arrives once."""
    async with Platforms(tmp_path) as platforms:
        web = await platforms.start_bot(args=("--role", "web"))
        dispatchers = []
        for _ in range(2):
            port = free_port()
            dispatchers.append(
                await platforms.start_bot(
                    port=port, args=("--role", "dispatcher"), DISPATCHER_PORT=str(port)
                )
            )
        async with platforms.http.post(dispatchers[0].url + "/telegram/webhook") as resp:
            assert resp.status == 404  # a dispatcher receives nothing
        async with platforms.http.get(dispatchers[0].url + "/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "ok"
        offers = [platforms.telegram_offer() for _ in range(30)]
        for offer in offers:
            platforms.telegram.fail("sendMessage", 500, chat_id=int(offer.user), times=1)
        platforms.bot = web
        for offer in offers:
            await platforms.deliver(offer)
        waited = await platforms.all_answered(offers, timeout=60)
        await asyncio.sleep(2.0)  # anything sent twice shows by now
        calls = {
            o.user: len(platforms.telegram.calls_of("sendMessage", int(o.user))) for o in offers
        }
        replies = Counter(platforms.replies(o) for o in offers)
        outbox = Counter(r[0] for r in await platforms.query("SELECT status FROM outbox"))
        codes = [await bot.terminate() for bot in platforms.started]
        logs = [(tmp_path / f"bot-{n}.log").read_text(errors="replace") for n in (1, 2, 3)]
    assert replies == {1: 30}, f"{replies} after {waited:.1f}s"
    assert set(calls.values()) == {2}, calls  # the failed first try, then one retry
    assert outbox == {"sent": 30}
    assert codes == [0, 0, 0]
    assert "handled channel=telegram" in logs[0]  # turns ran in the web process
    assert "web chat on" not in logs[1] and "dispatcher running" in logs[1]
