"""Helpers for the web chat tests: a browser-like client with a cookie jar, and web apps built
with changed web/limits settings on the test database."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import build_pipeline, build_web_app, build_worker

COOKIE = "langso_session"


def mid() -> str:
    return uuid.uuid4().hex


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)  # keeps cookies from 127.0.0.1


@asynccontextmanager
async def visitor(server: TestServer, **session: Any) -> AsyncIterator[aiohttp.ClientSession]:
    """A client that loaded the chat page, so it holds the session cookie."""
    async with aiohttp.ClientSession(cookie_jar=jar(), **session) as s:
        async with s.get(server.make_url("/")) as resp:
            assert resp.status == 200
        yield s


async def post(
    session: aiohttp.ClientSession,
    server: TestServer,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> tuple[int, dict]:
    async with session.post(server.make_url("/api/messages"), json=body, headers=headers) as resp:
        return resp.status, await resp.json()


def session_cookie(session: aiohttp.ClientSession) -> str:
    [value] = [c.value for c in session.cookie_jar if c.key == COOKIE]
    return value


def changed_settings(settings: Any, **changes: Any) -> Any:
    """`settings` with `web.<name>` / `limits.<name>` changed (names are unique across both)."""
    web = {
        k: v for k, v in changes.items() if k in {f.name for f in dataclasses.fields(settings.web)}
    }
    limits = {k: v for k, v in changes.items() if k not in web}
    return dataclasses.replace(
        settings,
        web=dataclasses.replace(settings.web, **web),
        limits=dataclasses.replace(settings.limits, **limits),
    )


@pytest.fixture
async def make_server(app_parts: tuple) -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """`await make_server(https=True, address_messages=3, ...)`: the bot's web app with those
    settings, on the test database, on a real loopback port."""
    services, engine, _pipeline = app_parts
    servers: list[TestServer] = []

    async def make(channels: list | None = None, **changes: Any) -> TestServer:
        svc = dataclasses.replace(services, settings=changed_settings(services.settings, **changes))
        app = build_web_app(svc, engine, build_worker(build_pipeline(svc)), channels)
        app.on_cleanup.clear()  # the app_parts fixture owns the engine
        srv = TestServer(app, host="127.0.0.1")
        await srv.start_server()
        servers.append(srv)
        return srv

    try:
        yield make
    finally:
        for srv in servers:
            await srv.close()


async def raw_request(server: TestServer, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes no HTTP client would (non-UTF-8 headers): the status and the response body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]
