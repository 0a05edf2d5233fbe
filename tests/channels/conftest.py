"""Fixtures for channel tests: the fake Telegram Bot API and a Telegram channel wired to a real pipeline.

`telegram` is a `TelegramHarness` in polling or in webhook mode (the `telegram_mode` parameter),
on SQLite and on PostgreSQL (the shared `db_url` parameter): every end-to-end case runs four times.
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

from bot.channels.sending import RetryPolicy
from bot.channels.telegram import TelegramChannel
from bot.storage.models import InboxEntry
from tests.fakes.telegram_api import FakeTelegramAPI

WEBHOOK_SECRET = "test_Secret-0123456789"
FAST_RETRIES = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=5)


class TelegramHarness:
    """A running TelegramChannel, the fake API it talks to, and, in webhook mode, our web app."""

    def __init__(self, api: FakeTelegramAPI, app_parts: tuple, settings: Any, mode: str) -> None:
        self.api = api
        self.services, self.engine, self.pipeline = app_parts
        self.settings = settings
        self.mode = mode
        self.channel: TelegramChannel | None = None
        self._runners: list[web.AppRunner] = []
        self._channels: list[TelegramChannel] = []
        self._port = 0

    def telegram_settings(self, **overrides: Any) -> Any:
        webhook_url = ""
        if self.mode == "webhook":
            if not self._port:  # chosen before the app is built, so the URL is known
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))
                    self._port = sock.getsockname()[1]
            webhook_url = f"http://127.0.0.1:{self._port}/telegram/webhook"
        values = dict(token=self.api.token, api_base_url=self.api.base_url, file_base_url="",
                      webhook_url=webhook_url, webhook_secret=WEBHOOK_SECRET if webhook_url else "",
                      rate_per_second=1000.0, rate_per_chat_seconds=0.0)
        values.update(overrides)
        return dataclasses.replace(self.settings.telegram, **values)

    def build(self, pipeline: Any = None, start_web: bool = True, **options: Any) -> TelegramChannel:
        """A new channel (not started). `options` go to TelegramChannel (or to settings if they are settings)."""
        setting_names = {f.name for f in dataclasses.fields(self.settings.telegram)}
        tg = self.telegram_settings(**{k: v for k, v in options.items() if k in setting_names})
        kwargs = {"retry_policy": FAST_RETRIES, "poll_timeout": 1.0, "request_timeout": 5.0}
        kwargs.update({k: v for k, v in options.items() if k not in setting_names})
        channel = TelegramChannel(tg, pipeline or self.pipeline, self.services.sessionmaker, **kwargs)
        self._channels.append(channel)
        return channel

    async def serve(self, channel: TelegramChannel) -> None:
        """Webhook mode: our aiohttp app (as `serve()` builds it) on the pre-bound socket."""
        if self.mode != "webhook":
            return
        for runner in self._runners:  # the previous "process" is gone
            await runner.cleanup()
        self._runners.clear()
        from bot.app import build_web_app

        app = build_web_app(self.services, self.engine, channel.pipeline, [channel])
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
        await channel.start()
        self.channel = channel
        return channel

    async def push(self, update: dict) -> tuple[dict, int | None]:
        """Send an update the way Telegram would in this mode; the webhook's HTTP status, if any."""
        if self.mode == "webhook":
            update = self.api._register(update)
            return update, await self.api.deliver(update)
        return self.api.enqueue(update), None

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the update queue is confirmed (polling) and every processing task finished."""
        async with asyncio.timeout(timeout):
            while True:
                if self.mode == "polling":
                    await self.api.wait_for(lambda api: not api.updates, timeout=timeout)
                busy = [t for c in self._channels for t in c._tasks]
                if not busy:
                    await asyncio.sleep(0.05)
                    if not any(c._tasks for c in self._channels):
                        return
                else:
                    await asyncio.wait(busy)

    async def inbox(self, update_id: int) -> InboxEntry | None:
        async with self.services.sessionmaker() as session:
            return (await session.execute(select(InboxEntry).where(
                InboxEntry.channel == "telegram", InboxEntry.message_id == str(update_id)))).scalar_one_or_none()

    async def close(self) -> None:
        for channel in self._channels:
            await channel.stop(drain_timeout=2)
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
async def telegram_harness(telegram_api: FakeTelegramAPI, app_parts: tuple, settings: Any,
                           telegram_mode: str) -> AsyncIterator[TelegramHarness]:
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
