"""Fixtures for the Zalo channel tests: the fake Zalo OA API, and the bot's webhook on a real port.

Imported by the `test_zalo*.py` modules (`from tests.channels.conftest_zalo import ...`); the
database fixtures (`db_url` on SQLite and PostgreSQL, `services`, `pipeline`) come from
`tests/conftest.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.channels.sending import RetryPolicy
from bot.channels.zalo import WEBHOOK_PATH, ZaloChannel
from bot.config import ZaloSettings
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import InboxEntry, Subscription, User
from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, FakeZaloApi, post_event

FAST_RETRIES = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=1.0)


def zalo_settings(fake: FakeZaloApi, **changes: Any) -> ZaloSettings:
    values: dict[str, Any] = dict(app_id=APP_ID, oa_secret_key=OA_SECRET_KEY, app_secret=fake.app_secret,
                                  access_token=fake.access_token, refresh_token=fake.refresh_token,
                                  api_base_url=fake.url, oauth_base_url=fake.url, timestamp_window_seconds=300,
                                  rate_per_second=1000.0)
    values.update(changes)
    return ZaloSettings(**values)


def make_channel(fake: FakeZaloApi, pipeline: Any, sessionmaker: Any, settings: ZaloSettings | None = None,
                 **kw: Any) -> ZaloChannel:
    kw.setdefault("policy", FAST_RETRIES)
    kw.setdefault("rate_limit_pause", 0.05)
    kw.setdefault("send_timeout", 2.0)
    return ZaloChannel(settings or zalo_settings(fake), pipeline, sessionmaker, **kw)


class SlowPipeline:
    """The real pipeline, started `delay` seconds late: processing that takes a while."""

    def __init__(self, pipeline: Any, delay: float) -> None:
        self.inner, self.delay, self.services = pipeline, delay, pipeline.services

    async def handle(self, msg: Any) -> Any:
        await asyncio.sleep(self.delay)
        return await self.inner.handle(msg)


@dataclass
class ZaloBot:
    """The channel, its webhook URL and the fake API it talks to."""

    channel: ZaloChannel
    fake: FakeZaloApi
    url: str
    runner: web.AppRunner

    async def post(self, ev: dict[str, Any] | None = None, **kw: Any) -> tuple[int, float]:
        return await post_event(self.url, ev, **kw)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every accepted event was processed."""
        await self.channel.drain(timeout)

    async def close(self) -> None:
        await self.channel.stop()
        await self.runner.cleanup()


async def start_bot(fake: FakeZaloApi, pipeline: Any, sessionmaker: Any, **kw: Any) -> ZaloBot:
    channel = make_channel(fake, pipeline, sessionmaker, **kw)
    app = web.Application()
    channel.register_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await channel.start()
    return ZaloBot(channel, fake, f"http://127.0.0.1:{port}{WEBHOOK_PATH}", runner)


@pytest.fixture
async def zalo_api() -> AsyncIterator[FakeZaloApi]:
    fake = await FakeZaloApi().start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def zalo_bot(zalo_api: FakeZaloApi, services: Any, pipeline: Any) -> AsyncIterator[ZaloBot]:
    bot = await start_bot(zalo_api, pipeline, services.sessionmaker)
    try:
        yield bot
    finally:
        await bot.close()


@pytest.fixture
async def sessionmaker(db_url: str) -> AsyncIterator[Any]:
    """A session factory on the migrated test database (SQLite and PostgreSQL), without the pipeline."""
    engine = create_engine(db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def subscribe(sessionmaker: Any, channel: str, external_id: str) -> None:
    """A reachable user with an active subscription, as the subscribe action leaves them."""
    async with sessionmaker() as session:
        user = User(channel=channel, external_id=external_id, state={}, role="villager", reachable=True)
        session.add(user)
        await session.flush()
        session.add(Subscription(user_id=user.id, channel=channel, active=True))
        await session.commit()


async def user_state(sessionmaker: Any, channel: str, external_id: str) -> tuple[bool | None, bool | None]:
    """(reachable, subscription active) of a user; None where there is no row."""
    async with sessionmaker() as session:
        user = (await session.execute(
            select(User).where(User.channel == channel, User.external_id == external_id))).scalar_one_or_none()
        if user is None:
            return None, None
        sub = (await session.execute(select(Subscription).where(Subscription.user_id == user.id))).scalar_one_or_none()
        return user.reachable, None if sub is None else sub.active


async def inbox_rows(sessionmaker: Any, channel: str = "zalo") -> list[InboxEntry]:
    async with sessionmaker() as session:
        return list((await session.execute(
            select(InboxEntry).where(InboxEntry.channel == channel).order_by(InboxEntry.id))).scalars())
