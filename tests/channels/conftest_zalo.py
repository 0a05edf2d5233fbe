"""Fixtures for the Zalo channel tests: the fake Zalo OA API, and the bot's webhook on a real port.

Imported by the `test_zalo*.py` modules (`from tests.channels.conftest_zalo import ...`); the
database fixtures (`db_url` on SQLite and PostgreSQL, `services`, `pipeline`) come from
`tests/conftest.py`.

The channel is wired as `bot.app.serve` wires it: `build_worker` gives the inbound worker, the
sender core and the dispatcher (with the fast retry policy of `tests/channels/conftest.py`).
Send-only cases (a notice, a staff reply) use `ZaloSender`: the channel with a sender core and a
dispatcher, and no inbound side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import build_worker
from bot.channels.zalo import WEBHOOK_PATH, ZaloChannel
from bot.config import ZaloSettings
from bot.inbound.worker import InboundWorker
from bot.messages import Reply
from bot.outbox.dispatcher import Dispatcher
from bot.outbox.sender import RetryPolicy, Sender
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import InboxEntry, OutboxEntry, Subscription, User
from bot.storage.repositories import outbox
from tests.channels.conftest import FAST_RETRIES, settle_worker
from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, FakeZaloApi, post_event

ROOT = Path(__file__).resolve().parents[2]
CONTENT = ROOT / "content"


def zalo_settings(fake: FakeZaloApi, **changes: Any) -> ZaloSettings:
    values: dict[str, Any] = dict(
        app_id=APP_ID,
        oa_secret_key=OA_SECRET_KEY,
        app_secret=fake.app_secret,
        access_token=fake.access_token,
        refresh_token=fake.refresh_token,
        api_base_url=fake.url,
        oauth_base_url=fake.url,
        timestamp_window_seconds=300,
        rate_per_second=1000.0,
        media_hosts="127.0.0.1",  # the fake serves users' attachments too
    )
    values.update(changes)
    return ZaloSettings(**values)


def make_channel(
    fake: FakeZaloApi, sessionmaker: Any, settings: ZaloSettings | None = None, **kw: Any
) -> ZaloChannel:
    """A channel on the fake API (not started); `kw` go to ZaloChannel."""
    kw.setdefault("content_dir", CONTENT)
    kw.setdefault("rate_limit_pause", 0.05)
    kw.setdefault("send_timeout", 2.0)
    return ZaloChannel(settings or zalo_settings(fake), sessionmaker, **kw)


async def send_and_wait(
    sender: Sender, sessionmaker: Any, recipient: str, reply: Reply, timeout: float = 10.0
) -> tuple[str, str | None]:
    """Queue one reply outside a turn (`send_now`) and wait until it is sent or failed, retries
    included (a dispatcher must be running for them): the row's final (status, error)."""
    [row] = await sender.send_now("zalo", recipient, [reply])
    return await final_state(sessionmaker, row, timeout)


async def final_state(sessionmaker: Any, row: int, timeout: float = 10.0) -> tuple[str, str | None]:
    """Wait until an outbox row is no longer queued or being sent: its (status, error)."""
    async with asyncio.timeout(timeout):
        while True:
            async with sessionmaker() as session:
                status, error = (await outbox.states(session, [row]))[row]
            if status not in outbox.UNFINISHED:
                return status, error
            await asyncio.sleep(0.02)


class ZaloSender:
    """A channel with the sender core and the dispatcher, without the inbound side."""

    def __init__(
        self, channel: ZaloChannel, sessionmaker: Any, policy: RetryPolicy = FAST_RETRIES
    ) -> None:
        self.channel, self.sessionmaker = channel, sessionmaker
        self.sender = Sender(sessionmaker, policy)
        self.sender.add_channel(channel)
        self.dispatcher = Dispatcher(self.sender, poll_interval=0.05)

    async def __aenter__(self) -> ZaloSender:
        self.dispatcher.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispatcher.stop()
        await self.channel.stop()

    async def send(
        self, recipient: str, reply: Reply, timeout: float = 10.0
    ) -> tuple[str, str | None]:
        """Send through the sender core; the row's final (status, error)."""
        return await send_and_wait(self.sender, self.sessionmaker, recipient, reply, timeout)


def send_only(
    fake: FakeZaloApi, sessionmaker: Any, settings: ZaloSettings | None = None, **kw: Any
) -> ZaloSender:
    """`async with send_only(fake, sm) as zs: await zs.send(user, reply)`."""
    return ZaloSender(make_channel(fake, sessionmaker, settings, **kw), sessionmaker)


class SlowPipeline:
    """The real pipeline, started `delay` seconds late for the messages `slow` picks (all by
    default): processing that takes a while. It never fails, so it needs no TurnFailed."""

    def __init__(
        self, pipeline: Any, delay: float, slow: Callable[[Any], bool] = lambda _msg: True
    ) -> None:
        self.inner, self.delay, self.slow = pipeline, delay, slow
        self.services = pipeline.services

    async def handle(self, msg: Any) -> Any:
        if self.slow(msg):
            await asyncio.sleep(self.delay)
        return await self.inner.handle(msg)


@dataclass
class ZaloBot:
    """The channel, its worker, its webhook URL and the fake API it talks to."""

    channel: ZaloChannel
    worker: InboundWorker
    fake: FakeZaloApi
    url: str
    runner: web.AppRunner

    async def post(self, ev: dict[str, Any] | None = None, **kw: Any) -> tuple[int, float]:
        return await post_event(self.url, ev, **kw)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every accepted event was handled and every reply sent or failed."""
        await settle_worker(self.worker, timeout)

    async def close(self) -> None:
        """End the "process": the worker stops (what is left stays recorded), then the channel."""
        try:
            await self.worker.stop(grace=2)
            await self.channel.stop()
        finally:
            await self.runner.cleanup()


async def start_bot(fake: FakeZaloApi, pipeline: Any, sessionmaker: Any, **kw: Any) -> ZaloBot:
    """A channel and its worker as `serve` builds them, the webhook on a loopback port."""
    channel = make_channel(fake, sessionmaker, **kw)
    worker = build_worker(pipeline, [channel], FAST_RETRIES)
    worker.dispatcher.poll_interval = 0.1
    app = web.Application()
    channel.register_routes(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await channel.start(worker)
    await worker.start()
    return ZaloBot(channel, worker, fake, f"http://127.0.0.1:{port}{WEBHOOK_PATH}", runner)


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
    """A session factory on the migrated test database (SQLite and PostgreSQL), without the
    pipeline: the outbox, the users and the token store are there."""
    engine = create_engine(db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def subscribe(sessionmaker: Any, channel: str, external_id: str) -> None:
    """A reachable user with an active subscription, as the subscribe action leaves them."""
    async with sessionmaker() as session:
        user = User(
            channel=channel, external_id=external_id, state={}, role="villager", reachable=True
        )
        session.add(user)
        await session.flush()
        session.add(Subscription(user_id=user.id, channel=channel, active=True))
        await session.commit()


async def user_state(
    sessionmaker: Any, channel: str, external_id: str
) -> tuple[bool | None, bool | None]:
    """(reachable, subscription active) of a user; None where there is no row."""
    async with sessionmaker() as session:
        user = (
            await session.execute(
                select(User).where(User.channel == channel, User.external_id == external_id)
            )
        ).scalar_one_or_none()
        if user is None:
            return None, None
        sub = (
            await session.execute(select(Subscription).where(Subscription.user_id == user.id))
        ).scalar_one_or_none()
        return user.reachable, None if sub is None else sub.active


async def inbox_rows(sessionmaker: Any, channel: str = "zalo") -> list[InboxEntry]:
    async with sessionmaker() as session:
        return list(
            (
                await session.execute(
                    select(InboxEntry).where(InboxEntry.channel == channel).order_by(InboxEntry.id)
                )
            ).scalars()
        )


async def outbox_rows(
    sessionmaker: Any, recipient: str | None = None, channel: str = "zalo"
) -> list[OutboxEntry]:
    """The outbox rows of a channel (of one recipient), oldest first."""
    query = select(OutboxEntry).where(OutboxEntry.channel == channel)
    if recipient is not None:
        query = query.where(OutboxEntry.recipient == recipient)
    async with sessionmaker() as session:
        return list((await session.execute(query.order_by(OutboxEntry.id))).scalars())
