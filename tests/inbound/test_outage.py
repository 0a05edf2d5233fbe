"""Database outages: the real PostgreSQL server stopped (or frozen) and started again under
traffic, and what each part does meanwhile.

The process tests run a real bot (`python -m bot run`) on a PostgreSQL server of their own
(tests/inbound/harness.py) with Telegram and Zalo webhooks; the platforms' side resends what was
answered 503, as Telegram and Zalo do. At the fakes they count: nothing lost, nothing answered
twice; in the database: no row `failed`; in the answers: every webhook answered within a second
during the outage, with `Retry-After`; in the logs: one traceback for the outage, and one line
when it ends.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.app import build_web_app, build_worker
from bot.core.pipeline import TurnFailed
from bot.storage.models import InboxEntry
from bot.storage.outage import DatabaseUnreachable, Outage
from tests.conftest import message
from tests.inbound.harness import Offer, Platforms

OUTAGE_ERROR = "database unreachable ("  # the one line (with its traceback) an outage logs
BACK = "database back after"


async def traffic_through_an_outage(
    platforms: Platforms, outage: str, rate: float = 15.0, before: float = 3.0, down: float = 4.0
) -> tuple[list[Offer], list[Any]]:
    """Offer a Telegram update and a Zalo event every 1/`rate` s; after `before` s take the
    database away (`outage`: "stop" or "freeze") for `down` s, then bring it back, and keep
    offering for 3 s more. Returns the offers and the answers given while it was away."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    away = {"now": False}
    during: list[Any] = []
    platforms.health_during = []
    deliveries: list[asyncio.Task] = []

    async def deliver(offer: Offer) -> None:
        while True:
            was_away = away["now"]
            answer = await platforms.post(offer)
            if was_away and away["now"]:
                during.append(answer)
            if answer.status == 200 or loop.time() - started > 120:
                return
            await asyncio.sleep(0.3)

    async def offer_load() -> None:
        i = 0
        while loop.time() - started < before + down + 3.0:
            await asyncio.sleep(max(0.0, started + i / rate - loop.time()))
            i += 1
            for offer in (platforms.telegram_offer(), platforms.zalo_offer()):
                deliveries.append(asyncio.create_task(deliver(offer)))

    async def take_it_away() -> None:
        await asyncio.sleep(before)
        away["now"] = True
        await asyncio.to_thread(platforms.stop_database if outage == "stop" else platforms.freeze)
        await asyncio.sleep(2.5)
        assert platforms.bot is not None
        async with platforms.http.get(platforms.bot.url + "/healthz") as resp:
            platforms.health_during.append((resp.status, await resp.json()))
        await asyncio.sleep(down - 2.5)
        away["now"] = False
        await asyncio.to_thread(platforms.start_database if outage == "stop" else platforms.thaw)

    await asyncio.gather(offer_load(), take_it_away())
    await asyncio.gather(*deliveries)
    return platforms.offers, during


@pytest.mark.parametrize("outage", ["stop", "freeze"])
async def test_a_postgresql_outage_under_traffic_loses_nothing_and_answers_nothing_twice(
    tmp_path: Path, outage: str
) -> None:
    async with Platforms(tmp_path) as platforms:
        await platforms.start_bot()
        offers, during = await traffic_through_an_outage(platforms, outage)
        waited = await platforms.all_answered(offers, timeout=60)
        await asyncio.sleep(1.5)  # anything sent twice shows by now
        inbox = Counter(r[0] for r in await platforms.query("SELECT status FROM inbox"))
        outbox = Counter(r[0] for r in await platforms.query("SELECT status FROM outbox"))
        logs = platforms.logs()
        assert platforms.bot is not None
        assert await platforms.bot.terminate() == 0, platforms.bot.tail()

    assert all(o.acknowledged for o in offers)
    replies = Counter(platforms.replies(o) for o in offers)
    assert replies == {1: len(offers)}, f"replies per update: {replies} (settled in {waited:.1f}s)"
    [(status, health)] = platforms.health_during  # /healthz says why
    assert status == 503 and health["status"] == "database unreachable", health
    assert inbox == {"done": len(offers)}, inbox
    assert outbox == {"sent": len(offers)}, outbox
    # During the outage every webhook was refused quickly, so the platforms send again.
    refused = [a for a in during if a.status != 200]
    assert len(refused) > 20, Counter(a.status for a in during)
    assert {a.status for a in refused} == {503}, Counter(a.status for a in refused)
    assert max(a.seconds for a in during) < 1.0, sorted(a.seconds for a in during)[-5:]
    assert {a.retry_after for a in refused} == {"5"}
    # One traceback for the outage, one line when it ended; no line per refused request.
    assert logs.count(OUTAGE_ERROR) == 1, [ln for ln in logs.splitlines() if "ERROR" in ln][:5]
    assert logs.count(BACK) == 1
    # The one record: an exception and the chain it wrapped, whose length depends on where the
    # outage hit (a connect timeout under a starved loop adds a CancelledError and a TimeoutError).
    # A traceback per refused request would be more than 20 (see `refused` above).
    assert logs.count("Traceback") <= 6, [
        ln for ln in logs.splitlines() if not ln.startswith((" ", "Traceback"))
    ][-40:]
    assert "cannot record" not in logs


# --------------------------------------------------------------------------- in process


class Down:
    """A middleware that fails every turn as an unreachable database does, while `on`."""

    def __init__(self) -> None:
        self.on = True

    async def __call__(self, ctx: Any, nxt: Any) -> None:
        if self.on:
            raise DatabaseUnreachable("cannot connect to the database (ConnectionRefusedError)")
        await nxt(ctx)


async def test_a_turn_that_meets_an_outage_is_not_counted_and_never_fails(
    services: Any, pipeline: Any, count: Any
) -> None:
    """Twenty failures for an unreachable database: the message is still recorded, unfailed, with
    no attempt spent (a message's own failure is given up after five)."""
    from bot.storage.repositories import inbox

    down = Down()
    pipeline.middlewares.insert(0, down)
    msg = message("/help", channel="telegram", sender="77")
    async with services.writing() as session:
        await inbox.record(session, "telegram", msg.message_id, {"x": 1}, sender="77")
    for _ in range(inbox.MAX_ATTEMPTS * 4):
        with pytest.raises(TurnFailed) as failed:
            await pipeline.handle(msg)
        assert not failed.value.counted and not failed.value.given_up
    async with services.sessionmaker() as session:
        row = await inbox.get(session, "telegram", msg.message_id)
    assert (row.status, row.attempts) == ("received", 0)
    down.on = False
    turn = await pipeline.handle(msg)
    assert turn.replies and await count(InboxEntry, InboxEntry.status == "done") == 1


class FakeChannel:
    name = "telegram"

    def __init__(self) -> None:
        from bot.outbox.sender import Limits

        self.limits = Limits(1000.0)
        self.sent: list[tuple[str, str]] = []

    def parse(self, payload: dict) -> Any:
        return message(
            payload["text"], channel="telegram", sender=payload["sender"], message_id=payload["id"]
        )

    def parts(self, reply: Any) -> list[str]:
        return [reply.text]

    async def deliver(self, recipient: str, part: str) -> str:
        self.sent.append((recipient, part))
        return "ref"


async def test_when_the_database_is_back_what_the_outage_left_goes_on_at_once(
    pipeline: Any,
) -> None:
    """Messages whose turns met the outage are handled as soon as the tracker sees the database
    back: not at the next sweep (60 s), and with no restart."""
    down = Down()
    pipeline.middlewares.insert(0, down)
    channel = FakeChannel()
    worker = build_worker(pipeline, [channel])  # type: ignore[list-item]
    worker.sweep_interval = 3600
    await worker.start()
    tracker = Outage.of(pipeline.services.sessionmaker)
    real_probe = tracker.probe

    async def probe() -> None:  # the database stays away for the probe too, until `down.on`
        if down.on:
            raise DatabaseUnreachable("still away")

    tracker.probe, tracker.probe_interval = probe, 0.05
    try:
        payloads = [{"text": "/help", "sender": f"9{i}", "id": f"out-{i}"} for i in range(5)]
        assert await worker.accept("telegram", payloads) == 5
        await worker.drain(10)
        assert tracker.down and channel.sent == []
        await asyncio.sleep(0.3)
        assert tracker.down and channel.sent == []  # nothing is tried while it is away
        down.on = False  # the probe finds it back within 0.05 s
        for _ in range(100):
            if len(channel.sent) == 5:
                break
            await asyncio.sleep(0.05)
        assert sorted(r for r, _ in channel.sent) == [f"9{i}" for i in range(5)]
    finally:
        tracker.probe = real_probe
        await worker.stop(grace=2)


async def test_a_send_whose_mark_meets_an_outage_is_marked_when_the_database_is_back(
    services: Any, count: Any
) -> None:
    """The reply went out but the database went away before its mark: the mark waits and is
    written when the database is back, so the row is not sent again when its lease lapses."""
    from bot.outbox.sender import Sender
    from bot.storage.models import OutboxEntry
    from bot.storage.repositories import outbox
    from tests.conftest import message as _message  # noqa: F401 - same helpers as above

    channel = FakeChannel()
    sender = Sender(services.sessionmaker)
    sender.add_channel(channel)  # type: ignore[arg-type]
    from bot.messages import Reply

    [row] = await sender.enqueue("telegram", "55", [Reply(text="hello")])
    marks = sender._marks
    real = outbox.mark_sent_many
    fails = {"left": 3}

    async def flaky(session: Any, sent: Any) -> None:
        if fails["left"]:
            fails["left"] -= 1
            raise DatabaseUnreachable("cannot connect to the database (OSError)")
        await real(session, sent)

    marks.RETRY = 0.01
    outbox.mark_sent_many = flaky  # type: ignore[assignment]
    try:
        assert await asyncio.wait_for(sender.flush("telegram", "55"), 10) == 1
    finally:
        outbox.mark_sent_many = real  # type: ignore[assignment]
        Outage.of(services.sessionmaker).ok()
    assert channel.sent == [("55", "hello")]
    assert await count(OutboxEntry, OutboxEntry.id == row, OutboxEntry.status == "sent") == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_locked_sqlite_file_answers_503_within_a_second_then_recovers(
    app_parts: tuple, db_url: str, settings: Any
) -> None:
    """Another process holds SQLite's write lock (a backup, a shell): webhooks answer 503 within
    a second, not 500; once the lock goes, the bot records and answers again."""
    import aiohttp

    from bot.channels.zalo import WEBHOOK_PATH, ZaloChannel
    from bot.config import ZaloSettings
    from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, FakeZaloApi, event, post_event

    services, engine, pipeline = app_parts
    fake = await FakeZaloApi().start()
    zs = ZaloSettings(
        app_id=APP_ID,
        oa_secret_key=OA_SECRET_KEY,
        app_secret=fake.app_secret,
        access_token=fake.access_token,
        refresh_token=fake.refresh_token,
        api_base_url=fake.url,
        oauth_base_url=fake.url,
        rate_per_second=1000.0,
    )
    root = Path(__file__).resolve().parents[2]
    channel = ZaloChannel(zs, services.sessionmaker, content_dir=root / "content")
    worker = build_worker(pipeline, [channel])
    server = TestServer(build_web_app(services, engine, worker, [channel]), host="127.0.0.1")
    await server.start_server()
    await channel.start(worker)
    await worker.start()
    path = db_url.split("///", 1)[1]
    locker = sqlite3.connect(path, timeout=0.1)
    url = str(server.make_url(WEBHOOK_PATH))
    try:
        locker.execute("BEGIN EXCLUSIVE")
        async with aiohttp.ClientSession() as http:
            answers = [
                await post_event(url, event("user_send_text", "1234", text="/help"), session=http)
                for _ in range(6)
            ]
            await asyncio.sleep(0.2)
            assert {status for status, _ in answers} == {503}, answers
            assert max(seconds for _, seconds in answers) < 1.0, answers
            locker.rollback()
            ev = event("user_send_text", "1234", text="/help")
            for _ in range(40):
                status, _seconds = await post_event(url, ev, session=http)
                if status == 200:
                    break
                await asyncio.sleep(0.25)
            assert status == 200
            await fake.wait_sent(1, timeout=10)
    finally:
        locker.close()
        await worker.stop(grace=2)
        await channel.stop()
        await server.close()
        await fake.stop()


async def test_the_web_chat_answers_503_within_a_second_during_an_outage_never_500(
    server: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn that meets the outage, then requests while it is known: 503 with Retry-After and a
    sentence to act on, at once; an outage error after the turn (marking its replies handed
    over) is a 503 too, not a 500."""
    from bot.storage.repositories import outbox
    from tests.channels.web_helpers import mid, visitor

    down = Down()
    pipeline.middlewares.insert(0, down)
    tracker = Outage.of(pipeline.services.sessionmaker)

    async def still_away() -> None:
        if down.on:
            raise DatabaseUnreachable("still away")

    monkeypatch.setattr(tracker, "probe", still_away)
    async with visitor(server) as s:
        url = server.make_url("/api/messages")
        for _ in range(3):
            started = asyncio.get_running_loop().time()
            async with s.post(url, json={"message_id": mid(), "text": "xin chào"}) as resp:
                body = await resp.json()
                assert resp.status == 503 and resp.headers["Retry-After"] == "5", body
                assert "try again" in body["error"] or "again" in body["error"]
            assert asyncio.get_running_loop().time() - started < 1.0
        down.on = False
        for _ in range(50):
            if not tracker.down:
                break
            await asyncio.sleep(0.1)

        async def away(*_args: Any, **_kw: Any) -> None:
            raise DatabaseUnreachable("cannot connect to the database (OSError)")

        monkeypatch.setattr(outbox, "mark_sent", away)
        async with s.post(url, json={"message_id": mid(), "text": "xin chào"}) as resp:
            assert resp.status == 503, await resp.text()
