"""Real bot processes: a reply survives SIGKILL between commit and send, and two processes on one
PostgreSQL keep one user's order.

Each bot is `python -m bot run --no-console` (tests/processes.py) talking to the fake Telegram Bot
API served by the test process.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import InboxEntry, OutboxEntry
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import BotProcess, free_port

SECRET = "process_Secret-42"
HELP = "Tôi có thể giúp bạn"


def bot_env(api: FakeTelegramAPI, db_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_RATE_PER_SECOND": "1000",
        "TELEGRAM_RATE_PER_CHAT_SECONDS": "0",
        **extra,
    }


async def rows(db_url: str, model: type) -> list[Any]:
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.execute(select(model).order_by(model.id))).scalars())
    finally:
        await engine.dispose()


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_sigkill_after_commit_before_a_successful_send_delivers_once_after_restart(
    db_url: str, tmp_path: Path
) -> None:
    """The reply is committed as an outbox row, every send fails (the Bot API answers 500), the
    process is killed; the next process sends it, once."""
    chat = 5_512_777_001
    async with FakeTelegramAPI() as api:
        api.fail("sendMessage", 500, chat_id=chat, times=10_000)
        first = await BotProcess(bot_env(api, db_url), tmp_path / "bot-a.log").start()
        try:
            api.enqueue(api.text_update(chat, "/help"))
            await wait_until(
                lambda: len(api.calls_of("sendMessage", chat)) >= 1, 30, "a first (failing) send"
            )
        finally:
            await first.kill()
        inbox = await rows(db_url, InboxEntry)
        assert [r.status for r in inbox] == ["done"]  # handled and committed with its reply
        [row] = await rows(db_url, OutboxEntry)
        assert row.status in ("queued", "sending") and row.payload is not None
        assert api.calls_of("sendMessage", chat, ok=True) == []

        api._faults.clear()  # the Bot API is back
        second = await BotProcess(bot_env(api, db_url), tmp_path / "bot-b.log").start()
        try:
            await wait_until(
                lambda: api.calls_of("sendMessage", chat, ok=True),
                60,
                "the reply after the restart",
            )
            await asyncio.sleep(1.5)  # anything sent twice would show up by now
        finally:
            assert await second.terminate() == 0, second.tail()
    delivered = api.calls_of("sendMessage", chat, ok=True)
    assert len(delivered) == 1 and HELP in delivered[0].params["text"]
    [row] = await rows(db_url, OutboxEntry)
    assert (row.status, row.payload) == ("sent", None)


# Commands with distinct replies, so the order of the replies shows the order of handling.
SEQUENCE = ["/help", "/xyz", "/dulieu", "/language"]
MARKERS = {
    "/help": HELP,
    "/xyz": "Tôi không biết lệnh này",
    "/dulieu": "Hiện tôi không lưu dữ liệu nào",  # (/human now also offers a person: 2)
    "/language": "Mời bạn chọn ngôn ngữ",
}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_processes_on_one_postgresql_keep_one_users_order(
    db_url: str, tmp_path: Path
) -> None:
    """One user's numbered messages go to two bot processes alternately (as a load balancer
    would send webhooks); each is recorded before its 200, and the replies come back in the
    order the messages were recorded, whichever process handled them."""
    chat = 5_512_888_001
    count = 40
    async with FakeTelegramAPI() as api:
        api.slow("sendMessage", delay=0.05, times=10_000)  # sends overlap with later turns
        bots = []
        for name in ("a", "b"):
            port = free_port()
            # Behind the load balancer: Telegram calls the public https URL, which reaches both.
            env = bot_env(
                api,
                db_url,
                TELEGRAM_WEBHOOK_URL="https://bot.example.org/telegram/webhook",
                TELEGRAM_WEBHOOK_SECRET=SECRET,
                FLOOD_MESSAGES="1000",
            )
            bots.append(await BotProcess(env, tmp_path / f"bot-{name}.log", port=port).start())
        try:
            texts = [SEQUENCE[i % len(SEQUENCE)] for i in range(count)]
            async with aiohttp.ClientSession() as http:
                for i, text in enumerate(texts):
                    update = api._register(api.text_update(chat, text))
                    target = bots[i % 2].url + "/telegram/webhook"
                    async with http.post(
                        target,
                        data=json.dumps(update),
                        headers={
                            "Content-Type": "application/json",
                            "X-Telegram-Bot-Api-Secret-Token": SECRET,
                        },
                    ) as resp:
                        assert resp.status == 200, await resp.text()
            try:
                await wait_until(
                    lambda: len(api.calls_of("sendMessage", chat, ok=True)) >= count,
                    60,
                    f"{count} replies",
                )
            except AssertionError:
                left = [
                    (r.id, r.status, r.attempts, r.error) for r in await rows(db_url, OutboxEntry)
                ]
                raise AssertionError(f"replies missing; outbox: {left}") from None
            await asyncio.sleep(0.5)
        finally:
            for bot in bots:
                await bot.terminate()
    replies = [c.params["text"] for c in api.calls_of("sendMessage", chat, ok=True)]
    got = [next((cmd for cmd, marker in MARKERS.items() if marker in r), r[:40]) for r in replies]
    detail = [(r.id, r.message_id, r.status, r.attempts) for r in await rows(db_url, OutboxEntry)]
    assert got == texts, f"replies in this order: {got}; outbox: {detail}"
    handled = await rows(db_url, InboxEntry)
    assert len(handled) == count and {r.status for r in handled} == {"done"}
    logs = bots[0].tail(400) + bots[1].tail(400)
    assert "handled channel=telegram" in bots[0].tail(400) and "handled channel=telegram" in bots[
        1
    ].tail(400), logs
