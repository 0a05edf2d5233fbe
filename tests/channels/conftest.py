"""Fixtures for channel tests: the fake Telegram Bot API and a Telegram channel wired to a real
pipeline through the inbound worker and the sender core, as `bot.app.serve` wires them.

`telegram` is a `TelegramHarness` in polling or in webhook mode (the `telegram_mode` parameter),
on SQLite and on PostgreSQL (the shared `db_url` parameter): every end-to-end case runs four times.
A harness "process" is one channel with its own worker; `stop` ends it, `start` begins the next.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import build_worker
from bot.channels.telegram import TelegramChannel
from bot.inbound.worker import InboundWorker
from bot.messages import Reply
from bot.outbox.sender import RetryPolicy
from bot.storage.models import InboxEntry
from bot.storage.repositories import outbox
from tests.fakes.telegram_api import FakeTelegramAPI

WEBHOOK_SECRET = "test_Secret-0123456789"
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=5)


async def settle_worker(worker: InboundWorker, timeout: float) -> None:
    """Wait until the worker handled what it took and the outbox of its channels is empty
    (retries included: the fast policies above make them short)."""
    names = list(worker.channels)
    async with asyncio.timeout(timeout):
        while True:
            await worker.drain()
            async with worker.services.sessionmaker() as session:
                left = await outbox.unfinished_count(session, names)
            if not left and not worker._tasks:
                await asyncio.sleep(0.05)
                if not worker._tasks:
                    return
            await asyncio.sleep(0.02)


async def send_and_wait(
    worker: InboundWorker, channel: str, recipient: str, reply: Reply, timeout: float = 10.0
) -> tuple[str, str | None]:
    """Queue one reply outside a turn and wait until it is sent or failed: (status, error)."""
    [row] = await worker.sender.send_now(channel, recipient, [reply])
    async with asyncio.timeout(timeout):
        while True:
            async with worker.services.sessionmaker() as session:
                status, error = (await outbox.states(session, [row]))[row]
            if status not in outbox.UNFINISHED:
                return status, error
            await asyncio.sleep(0.02)


class TelegramHarness:
    """A running TelegramChannel, the fake API it talks to, and, in webhook mode, our web app."""

    def __init__(self, api: FakeTelegramAPI, app_parts: tuple, settings: Any, mode: str) -> None:
        self.api = api
        self.services, self.engine, self.pipeline = app_parts
        self.settings = settings
        self.mode = mode
        self.channel: TelegramChannel | None = None
        self.worker: InboundWorker | None = None
        self._runners: list[web.AppRunner] = []
        self._workers: dict[int, InboundWorker] = {}  # id(channel) -> its worker
        self._port = 0

    def telegram_settings(self, **overrides: Any) -> Any:
        webhook_url = ""
        if self.mode == "webhook":
            if not self._port:  # chosen before the app is built, so the URL is known
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))
                    self._port = sock.getsockname()[1]
            webhook_url = f"http://127.0.0.1:{self._port}/telegram/webhook"
        values = dict(
            token=self.api.token,
            api_base_url=self.api.base_url,
            file_base_url="",
            webhook_url=webhook_url,
            webhook_secret=WEBHOOK_SECRET if webhook_url else "",
            rate_per_second=1000.0,
            rate_per_chat_seconds=0.0,
        )
        values.update(overrides)
        return dataclasses.replace(self.settings.telegram, **values)

    def build(self, pipeline: Any = None, **options: Any) -> TelegramChannel:
        """A new channel and its worker (not started). `options` go to TelegramChannel (or to
        settings if they are settings); `retry_policy` to the sender core."""
        setting_names = {f.name for f in dataclasses.fields(self.settings.telegram)}
        tg = self.telegram_settings(**{k: v for k, v in options.items() if k in setting_names})
        policy = options.pop("retry_policy", FAST_RETRIES)
        kwargs: dict[str, Any] = {
            "poll_timeout": 1.0,
            "request_timeout": 5.0,
            "content_dir": self.settings.path(self.settings.content_dir),
        }
        kwargs.update({k: v for k, v in options.items() if k not in setting_names})
        channel = TelegramChannel(tg, **kwargs)
        worker = build_worker(pipeline or self.pipeline, [channel], policy)
        worker.dispatcher.poll_interval = 0.1
        self._workers[id(channel)] = worker
        return channel

    def worker_of(self, channel: TelegramChannel) -> InboundWorker:
        return self._workers[id(channel)]

    async def serve(self, channel: TelegramChannel) -> None:
        """Webhook mode: our aiohttp app (as `serve()` builds it) on the pre-bound socket."""
        if self.mode != "webhook":
            return
        for runner in self._runners:  # the previous "process" is gone
            await runner.cleanup()
        self._runners.clear()
        from bot.app import build_web_app

        app = build_web_app(self.services, self.engine, self.worker_of(channel), [channel])
        app.on_cleanup.clear()  # the test fixture owns the engine
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self._port, reuse_address=True).start()
        self._runners.append(runner)

    async def start(self, pipeline: Any = None, **options: Any) -> TelegramChannel:
        channel = self.build(pipeline, **options)
        await self.serve(channel)
        if self.mode == "webhook" and not self.api.webhook.get("url"):
            from bot.channels.telegram_cli import set_webhook

            await set_webhook(channel.settings)
        worker = self.worker_of(channel)
        await channel.start(worker)
        await worker.start()
        self.channel, self.worker = channel, worker
        return channel

    async def stop(self, channel: TelegramChannel) -> None:
        """End a "process": its worker stops (what is left stays recorded), then the channel."""
        await self.worker_of(channel).stop(grace=2)
        await channel.stop()

    async def send(self, chat: int, reply: Reply) -> tuple[str, str | None]:
        """Send outside a turn through the sender core; the row's final (status, error)."""
        assert self.worker is not None
        return await send_and_wait(self.worker, "telegram", str(chat), reply)

    async def push(self, update: dict) -> tuple[dict, int | None]:
        """Send an update the way Telegram would in this mode; the webhook's HTTP status, if any."""
        if self.mode == "webhook":
            update = self.api._register(update)
            return update, await self.api.deliver(update)
        return self.api.enqueue(update), None

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the update queue is confirmed (polling), every message handled and every
        reply sent or failed."""
        if self.mode == "polling":
            await self.api.wait_for(lambda api: not api.updates, timeout=timeout)
        assert self.worker is not None
        await settle_worker(self.worker, timeout)

    async def inbox(self, update_id: int) -> InboxEntry | None:
        async with self.services.sessionmaker() as session:
            return (
                await session.execute(
                    select(InboxEntry).where(
                        InboxEntry.channel == "telegram", InboxEntry.message_id == str(update_id)
                    )
                )
            ).scalar_one_or_none()

    async def close(self) -> None:
        for worker in self._workers.values():
            await worker.stop(grace=2)
            for channel in worker.channels.values():
                await channel.stop()
        for runner in self._runners:
            await runner.cleanup()


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture(params=["polling", "webhook"])
def telegram_mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def telegram_harness(
    telegram_api: FakeTelegramAPI, app_parts: tuple, settings: Any, telegram_mode: str
) -> AsyncIterator[TelegramHarness]:
    """A harness whose channel is not started yet (for tests that build their own)."""
    harness = TelegramHarness(telegram_api, app_parts, settings, telegram_mode)
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def telegram(telegram_harness: TelegramHarness) -> TelegramHarness:
    """A started channel in polling or webhook mode."""
    await telegram_harness.start()
    return telegram_harness


@pytest.fixture
def content_media(tmp_path: Path) -> Path:
    """A content folder with one photo, one voice note and one document."""
    media = tmp_path / "content" / "media"
    media.mkdir(parents=True)
    (media / "que-tra-bong.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00JFIF" + b"x" * 2048)
    (media / "huong-dan.ogg").write_bytes(b"OggS" + b"\x00" * 512)
    (media / "mau-don.pdf").write_bytes(b"%PDF-1.4\n" + b"y" * 1024)
    return tmp_path / "content"
