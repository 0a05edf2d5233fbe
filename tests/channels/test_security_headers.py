# ruff: noqa: F811 - the make_server fixture imported from web_helpers is redefined as an argument
"""Security headers on every response of the app: the page, static files, the web chat API
(answers and refusals), /healthz, the Telegram and Zalo webhooks, the export download, 404s,
405s and a handler that crashes; HSTS only over HTTPS; no version in `Server`."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import build_pipeline, build_web_app, build_worker
from bot.channels.telegram import TelegramChannel
from bot.channels.web import STATIC
from bot.channels.zalo import ZaloChannel
from bot.config import ZaloSettings
from tests.channels.web_helpers import (  # noqa: F401 - fixture
    changed_settings,
    jar,
    make_server,
    mid,
)

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

REQUIRED_CSP = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]


def channels(settings) -> list:
    telegram = dataclasses.replace(
        settings.telegram,
        token="123456:TEST-token",
        webhook_url="https://bot.example.vn/telegram/webhook",
        webhook_secret="s3cret_" + "x" * 24,
    )
    zalo = ZaloSettings(app_id="4242", oa_secret_key="oa-secret-key")
    content = settings.path(settings.content_dir)
    return [
        TelegramChannel(telegram, content_dir=content),
        ZaloChannel(zalo, None, content_dir=content),  # type: ignore[arg-type]
    ]


# (method, path, what to send, expected status)
ROUTES = [
    ("GET", "/", {}, 200),
    ("HEAD", "/", {}, 200),
    ("GET", "/static/chat.js", {}, 200),
    ("GET", "/static/chat.css", {}, 200),
    ("GET", "/static/icon.svg", {}, 200),
    ("GET", "/static/missing.js", {}, 404),
    ("GET", "/static/../bot/config.py", {}, 404),
    ("GET", "/no-such-page", {}, 404),
    ("GET", "/healthz", {}, 200),
    ("GET", "/api/messages", {}, 405),
    ("POST", "/api/messages", {"json": {"message_id": "abcdefgh12", "text": "hi"}}, 200),
    (
        "POST",
        "/api/messages",
        {"data": b"{nope", "headers": {"Content-Type": "application/json"}},
        400,
    ),
    ("POST", "/api/messages", {"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),
    ("POST", "/api/messages", {"json": {}, "headers": {"Origin": "http://evil.example"}}, 403),
    ("POST", "/api/messages", {"json": {}, "cookies": False}, 403),
    ("POST", "/telegram/webhook", {"json": {"update_id": 1}}, 403),
    ("GET", "/telegram/webhook", {}, 405),
    ("POST", "/zalo/webhook", {"json": {"app_id": "4242"}}, 403),
    ("POST", "/zalo/webhook", {"data": b"[" * 40, "headers": {"X-ZEvent-Signature": "mac=0"}}, 400),
    ("GET", "/exports/abc/langso-du-lieu.json", {}, 404),
    ("GET", "/boom", {}, 500),
]


async def fetch_all(srv: TestServer) -> list[tuple[str, int, dict]]:
    out = []
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        async with s.get(srv.make_url("/")):
            pass
        for method, path, kw, _status in ROUTES:
            kw = dict(kw)
            session = s
            if kw.pop("cookies", True) is False:
                session = aiohttp.ClientSession()
            try:
                async with session.request(method, srv.make_url(path), **kw) as resp:
                    await resp.read()
                    out.append((f"{method} {path} {kw}", resp.status, dict(resp.headers)))
            finally:
                if session is not s:
                    await session.close()
    return out


@pytest.fixture
async def full_app(app_parts, settings):
    """The app as `serve` builds it, with the Telegram and Zalo webhooks and a route that
    crashes (an unhandled error's 500 must carry the headers too)."""
    servers = []

    async def make(**changes) -> TestServer:
        services, engine, _ = app_parts
        svc = dataclasses.replace(services, settings=changed_settings(services.settings, **changes))
        app = build_web_app(svc, engine, build_worker(build_pipeline(svc)), channels(settings))
        app.on_cleanup.clear()

        async def boom(_request: web.Request) -> web.Response:
            raise RuntimeError("a bug")

        app.router.add_get("/boom", boom)
        srv = TestServer(app, host="127.0.0.1")
        await srv.start_server()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        await srv.close()


@sqlite_only
async def test_every_route_carries_the_security_headers(full_app):
    srv = await full_app()
    results = await fetch_all(srv)
    assert [status for _, status, _ in results] == [status for *_, status in ROUTES]
    for label, _status, headers in results:
        csp = headers.get("Content-Security-Policy", "")
        for directive in REQUIRED_CSP:
            assert directive in csp, (label, directive)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, label
        assert headers.get("X-Frame-Options") == "DENY", label
        assert headers.get("X-Content-Type-Options") == "nosniff", label
        assert headers.get("Referrer-Policy") in ("strict-origin-when-cross-origin", "no-referrer")
        permissions = headers.get("Permissions-Policy", "")
        assert "camera=()" in permissions and "geolocation=()" in permissions, label
        assert re.search(r"microphone=\((self)?\)", permissions), label
        assert "Strict-Transport-Security" not in headers, label  # plain http here
        server = headers.get("Server", "")
        assert "aiohttp" not in server.lower() and "python" not in server.lower(), label
        assert not re.search(r"\d", server), (label, server)


@sqlite_only
async def test_hsts_on_every_route_over_https(full_app):
    srv = await full_app(https=True)
    for label, _status, headers in await fetch_all(srv):
        assert headers.get("Strict-Transport-Security", "").startswith("max-age="), label


@sqlite_only
async def test_api_answers_are_not_cached(make_server):
    srv = await make_server()
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        async with s.get(srv.make_url("/")) as page:
            assert page.headers["Cache-Control"] == "no-store"
        for body in ({"message_id": mid(), "text": "xin chào"}, {"message_id": "x"}):
            async with s.post(srv.make_url("/api/messages"), json=body) as resp:
                assert resp.headers["Cache-Control"] == "no-store", resp.status


@sqlite_only
async def test_no_version_even_where_the_app_never_sees_the_request(make_server):
    """A malformed request is answered by aiohttp's protocol layer, before any route."""
    srv = await make_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
    await writer.drain()
    head = (await reader.read()).partition(b"\r\n\r\n")[0].decode("latin-1")
    writer.close()
    assert head.split(" ")[1] == "400", head
    [server] = [line for line in head.split("\r\n") if line.lower().startswith("server:")]
    assert "aiohttp" not in server and "Python" not in server, server


def test_the_page_has_no_inline_script_or_style():
    """What the policy forbids must not be needed: scripts and styles are files of our own."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert re.findall(r"\sstyle=", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []
    assert "javascript:" not in html


@sqlite_only
async def test_the_dispatchers_health_app_carries_them_too(app_parts):
    from bot.app import build_health_app

    _services, engine, _pipeline = app_parts
    app = build_health_app(engine)
    app.on_cleanup.clear()  # the fixture owns the engine
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        async with aiohttp.ClientSession() as s, s.get(srv.make_url("/healthz")) as resp:
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
            assert "aiohttp" not in resp.headers["Server"]
    finally:
        await srv.close()
