"""A webhook route in process for property tests: the real channel, its real route on an aiohttp
app served by `aiohttp.test_utils.TestServer`, one client session for every example, the real
inbound worker recording into a real, migrated SQLite inbox.

Examples run one after the other on the harness's own event loop (`run`), so a hypothesis test
is a plain function and 10,000 examples cost only the requests. What a recorded message does
next is not the route's business: the worker hands it to `Recorder`, which keeps the parsed
message (to check its types) instead of running a whole turn per example.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import build_worker
from bot.core.context import Turn
from bot.core.memory import SessionMemory
from bot.core.services import Services
from bot.messages import IncomingMessage
from bot.storage.db import create_engine, create_sessionmaker, upgrade
from bot.storage.models import InboxEntry
from bot.storage.repositories import inbox

TRACEBACK_MARKERS = ("Traceback", 'File "', "Internal Server Error", "Server got itself")


class Recorder:
    """Stands in for the pipeline behind the worker: claims the message's inbox row as the
    pipeline's first middleware does (a duplicate when it cannot), keeps the message, answers
    nothing."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.messages: list[IncomingMessage] = []
        self.reply_lease = 0.0

    async def handle(self, msg: IncomingMessage) -> Turn:
        async with self.services.writing() as session:
            claimed = await inbox.claim(session, msg.channel, msg.message_id)
            await session.commit()
        if claimed:
            self.messages.append(msg)
        return Turn(duplicate=not claimed)


class Route:
    """One channel's webhook, served in process. Use as a context manager (sync)."""

    def __init__(self, services: Any, channel: Any, engine: Any = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.engine = engine  # disposed on exit, on the loop that used it
        self.services = services
        self.channel = channel
        self.recorder = Recorder(services)
        self.worker = build_worker(self.recorder, [channel])  # type: ignore[arg-type]
        self.app = web.Application()
        channel.register_routes(self.app)
        self.client: TestClient | None = None
        self.seconds = 0.0
        self.requests = 0

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def __enter__(self) -> Route:
        async def start() -> TestClient:
            client = TestClient(TestServer(self.app, host="127.0.0.1"))
            await client.start_server()
            return client

        self.client = self.run(start())
        self.channel.worker = self.worker
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.worker.stop(grace=5))
            if self.client is not None:
                self.run(self.client.close())
            if self.engine is not None:
                self.run(self.engine.dispose())
        finally:
            self.loop.close()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        assert self.client is not None

        async def go() -> tuple[int, str]:
            async with self.client.post(path, data=body, headers=headers) as resp:
                return resp.status, await resp.text(errors="replace")

        started = time.perf_counter()
        try:
            return self.run(go())
        finally:
            self.seconds += time.perf_counter() - started
            self.requests += 1

    def status_of(self, channel: str, key: str) -> str | None:
        async def go() -> str | None:
            async with self.services.sessionmaker() as session:
                query = select(InboxEntry.status).where(
                    InboxEntry.channel == channel, InboxEntry.message_id == key
                )
                return (await session.execute(query)).scalar_one_or_none()

        return self.run(go())

    def statuses(self, channel: str, *keys: str) -> dict[str, str]:
        """{key: status} of the inbox rows with these keys (one query)."""

        async def go() -> dict[str, str]:
            async with self.services.sessionmaker() as session:
                query = select(InboxEntry.message_id, InboxEntry.status).where(
                    InboxEntry.channel == channel, InboxEntry.message_id.in_(keys)
                )
                return {key: status for key, status in await session.execute(query)}

        return self.run(go())

    def rows(self, channel: str) -> int:
        async def go() -> int:
            async with self.services.sessionmaker() as session:
                query = select(func.count()).select_from(InboxEntry)
                query = query.where(InboxEntry.channel == channel)
                return (await session.execute(query)).scalar_one()

        return self.run(go())


def fuzz_services(settings: Any, db_url: str) -> tuple[Services, Any]:
    """A migrated database and the services the worker needs on it (no content, no NLU: the
    route never reaches them); (services, engine)."""
    upgrade(db_url)
    engine = create_engine(db_url)
    services = Services(
        settings=settings,
        content=None,  # type: ignore[arg-type]
        nlu=None,  # type: ignore[arg-type]
        catalogs=None,  # type: ignore[arg-type]
        sessionmaker=create_sessionmaker(engine),
        memory=SessionMemory(settings.privacy.pseudonym_key),
    )
    return services, engine


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"


def assert_clean(status: int, body: str) -> None:
    """The answer every request must get, whatever it sent: no 5xx, no traceback."""
    assert status < 500, (status, body[:200])
    for marker in TRACEBACK_MARKERS:
        assert marker not in body, body[:200]
