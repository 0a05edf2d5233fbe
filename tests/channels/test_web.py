# ruff: noqa: F811 - the make_server fixture imported from web_helpers is redefined as an argument
"""The web chat over real HTTP: the page and its session, the conversation, what the API refuses
(no session, another origin, not JSON, too fast, bad input), and /healthz."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.app import build_web_app, build_worker
from bot.storage.models import InboxEntry, User
from bot.web.security import RateLimit
from bot.web.sessions import SESSION_USER, key_from_file, session_keys
from tests.channels.web_helpers import (  # noqa: F401 - fixture
    COOKIE,
    jar,
    make_server,
    mid,
    post,
    raw_request,
    session_cookie,
    visitor,
)

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def users_on_web(services) -> list[str]:
    async with services.sessionmaker() as s:
        rows = await s.execute(select(User.external_id).where(User.channel == "web"))
        return list(rows.scalars())


def decrypt(settings, value: str) -> dict:
    return json.loads(Fernet(session_keys(settings)[0]).decrypt(value.encode()))


# ------------------------------------------------------------------------------ page and session


async def test_page_is_served_without_outside_assets(server):
    async with aiohttp.ClientSession() as s, s.get(server.make_url("/")) as resp:
        html = await resp.text()
    assert resp.status == 200
    assert 'name="viewport"' in html
    assert "http://" not in html and "https://" not in html


@sqlite_only
async def test_page_issues_an_encrypted_httponly_lax_session_cookie(server, settings):
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        async with s.get(server.make_url("/")) as resp:
            morsel = resp.cookies[COOKIE]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "Lax"
        assert morsel["path"] == "/"
        assert int(morsel["max-age"]) == settings.web.session_days * 86400
        assert not morsel["secure"]  # plain http here; see test_cookie_is_secure_over_https
        # The browser holds ciphertext: the id is only readable with the server's key.
        sender = decrypt(settings, morsel.value)["session"][SESSION_USER]
        assert sender not in morsel.value and len(sender) >= 20
        # A second visit keeps the same id (and renews the cookie).
        async with s.get(server.make_url("/")) as again:
            assert decrypt(settings, again.cookies[COOKIE].value)["session"][SESSION_USER] == sender


async def test_the_server_picks_the_sender_not_the_page(server, services):
    """Two browsers get two users; a `sender` in the body is ignored."""
    async with visitor(server) as a, visitor(server) as b:
        for s in (a, b):
            status, _ = await post(
                s, server, sender="victim-id-123456", message_id=mid(), text="hi"
            )
            assert status == 200
        ids = await users_on_web(services)
    assert len(ids) == 2 and "victim-id-123456" not in ids


async def test_conversation_greet_language_question_consent(server):
    async with visitor(server) as s:
        status, hello = await post(s, server, message_id=mid(), text="xin chào")
        assert status == 200
        assert any(
            b["payload"] == "/lang vi" for r in hello["replies"] for b in r.get("buttons", [])
        )
        status, chosen = await post(s, server, message_id=mid(), payload="/lang vi")
        assert chosen["lang"] == "vi"
        status, answer = await post(
            s, server, message_id=mid(), text="ho tro lam nha bao nhieu tien", lang="vi"
        )
        text = " ".join(r["text"] for r in answer["replies"])
        assert "40 triệu" in text and "Nguồn:" in text
        status, notice = await post(s, server, message_id=mid(), text="/subscribe", lang="vi")
        assert any(
            b["payload"] == "/consent yes" for r in notice["replies"] for b in r.get("buttons", [])
        )
        status, done = await post(s, server, message_id=mid(), payload="/consent yes", lang="vi")
        assert "Đã đăng ký" in " ".join(r["text"] for r in done["replies"])


async def test_replayed_message_id_is_answered_once(server):
    body = {"message_id": mid(), "text": "cảm ơn", "lang": "vi"}
    async with visitor(server) as s:
        _, first = await post(s, server, **body)
        _, second = await post(s, server, **body)
    assert first["replies"] and not first["duplicate"]
    assert second["duplicate"] and second["replies"] == []


# ------------------------------------------------------------------------ refused: no session


def tampered(value: str) -> str:
    """The cookie with one character of its ciphertext changed."""
    i = len(value) // 2
    return value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]


@sqlite_only
async def test_no_forged_tampered_foreign_or_expired_cookie_gets_in(server, services, settings):
    async with visitor(server) as s:
        good = session_cookie(s)
    sender = decrypt(settings, good)["session"][SESSION_USER]
    body = json.dumps({"session": {SESSION_USER: sender}, "created": int(time.time())}).encode()
    key = Fernet(Fernet.generate_key())
    ours = Fernet(session_keys(settings)[0])
    days = settings.web.session_days
    cookies = {
        "none": None,
        "plain id": sender,
        "plain json": body.decode(),
        "tampered": tampered(good),
        "other key": key.encrypt(body).decode(),
        "expired": ours.encrypt_at_time(body, int(time.time()) - days * 86400 - 60).decode(),
        "not text": b"\xff\xfe\xc3(".decode("utf-8", "surrogateescape"),
    }
    for label, value in cookies.items():
        cookie = (
            b""
            if value is None
            else b"Cookie: %s=%s\r\n"
            % (
                COOKIE.encode(),
                value.encode("utf-8", "surrogateescape"),
            )
        )
        status, data = await raw_request(
            server,
            b"POST /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n" + cookie,
            json.dumps({"message_id": mid(), "text": "xin chào"}).encode(),
        )
        assert status == 403, label
        error = json.loads(data)["error"]
        assert "tải lại trang" in error and "reload" in error, label
    assert await users_on_web(services) == []
    # The genuine cookie, sent the same way, works.
    async with aiohttp.ClientSession() as anon:
        resp = await anon.post(
            server.make_url("/api/messages"),
            json={"message_id": mid(), "text": "xin chào"},
            headers={"Cookie": f"{COOKIE}={good}"},
        )
        assert resp.status == 200
    assert await users_on_web(services) == [sender]


@sqlite_only
async def test_a_bad_cookie_on_the_page_gets_a_fresh_session(server):
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:
        s.cookie_jar.update_cookies({COOKIE: "forged"}, server.make_url("/"))
        async with s.get(server.make_url("/")) as resp:
            assert resp.status == 200
            assert resp.cookies[COOKIE].value not in ("", "forged")
        status, _ = await post(s, server, message_id=mid(), text="xin chào")
    assert status == 200


# ------------------------------------------------------------- refused: another site, not JSON


@sqlite_only
async def test_requests_from_another_origin_are_refused(server, services):
    here = f"http://127.0.0.1:{server.port}"
    refused = [
        {"Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1:{server.port + 1}"},
        {"Origin": f"https://127.0.0.1:{server.port}"},  # other scheme: another origin
        {"Origin": "null"},  # sandboxed frames, file: pages
        {"Origin": f"{here}.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": here, "Sec-Fetch-Site": "cross-site"},
    ]
    async with visitor(server) as s:
        for headers in refused:
            status, data = await post(s, server, headers, message_id=mid(), text="xin chào")
            assert status == 403, headers
            assert "another site" in data["error"], headers
        assert await users_on_web(services) == []
        for headers in ({"Origin": here, "Sec-Fetch-Site": "same-origin"}, {"Origin": here + "/"}):
            status, _ = await post(s, server, headers, message_id=mid(), text="xin chào")
            assert status == 200, headers


@sqlite_only
async def test_a_cross_site_text_plain_or_form_post_is_refused(server, services, count):
    """What a page elsewhere can send without a CORS preflight: form encodings and text/plain."""
    body = json.dumps({"message_id": mid(), "text": "xin chào"})
    async with visitor(server) as s:
        for content_type in (
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            None,
        ):
            headers = {} if content_type is None else {"Content-Type": content_type}
            async with s.post(
                server.make_url("/api/messages"), data=body.encode(), headers=headers
            ) as resp:
                data = await resp.json()
            assert resp.status == 415, content_type
            assert "Content-Type: application/json" in data["error"]
    assert await count(InboxEntry) == 0


# ---------------------------------------------------------------------- refused: too fast


@sqlite_only
async def test_per_address_limit_trips_while_sessions_rotate(make_server, services):
    """A new session per message (what a flood would do to get around the per-user limit)
    still counts against the address."""
    srv = await make_server(address_messages=5, address_window_seconds=60)
    statuses, last = [], None
    for _ in range(8):
        async with visitor(srv) as s:
            async with s.post(
                srv.make_url("/api/messages"), json={"message_id": mid(), "text": "xin chào"}
            ) as resp:
                statuses.append(resp.status)
                last = resp, await resp.json()
    assert statuses == [200] * 5 + [429] * 3
    resp, data = last
    assert 1 <= int(resp.headers["Retry-After"]) <= 12
    assert "xin chờ" in data["error"] and "Too many messages" in data["error"]
    assert len(await users_on_web(services)) == 5


@sqlite_only
async def test_cross_site_requests_do_not_spend_the_address_allowance(make_server):
    """A page elsewhere making its visitors' browsers post here must not lock them out."""
    srv = await make_server(address_messages=3)
    async with visitor(srv) as s:
        for _ in range(5):
            status, _ = await post(s, srv, {"Origin": "http://evil.example"}, message_id=mid())
            assert status == 403
        statuses = [(await post(s, srv, message_id=mid(), text="cảm ơn"))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


@sqlite_only
async def test_forwarded_for_counts_only_behind_a_trusted_proxy(make_server):
    async def statuses(srv, n: int, forwarded) -> list[int]:
        out = []
        async with visitor(srv) as s:
            for i in range(n):
                status, _ = await post(
                    s,
                    srv,
                    {"X-Forwarded-For": forwarded(i)},
                    message_id=mid(),
                    text="cảm ơn",
                )
                out.append(status)
        return out

    # Not behind a proxy: a client making up X-Forwarded-For still counts as its own address.
    direct = await make_server(address_messages=3)
    assert await statuses(direct, 5, lambda i: f"203.0.113.{i}") == [200] * 3 + [429] * 2
    # Behind one: the address the proxy appended (the last one) counts; the client's own claim
    # before it does not.
    proxied = await make_server(address_messages=3, trust_proxy=True)
    got = await statuses(proxied, 5, lambda i: f"198.51.100.{i}, 203.0.113.7")
    assert got == [200] * 3 + [429] * 2
    assert await statuses(proxied, 5, lambda i: f"203.0.113.{10 + i}") == [200] * 5
    # An IPv6 client is one /64, however many addresses it takes from it.
    got = await statuses(proxied, 5, lambda i: f"2001:db8:1:2::{i + 1:x}")
    assert got == [200] * 3 + [429] * 2


def test_rate_limit_refills_and_says_how_long_to_wait():
    now = [1000.0]
    limit = RateLimit(3, 60.0, clock=lambda: now[0])
    assert [limit.hit("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.hit("a") == pytest.approx(20.0)
    assert limit.hit("b") == 0.0  # another address is not affected
    now[0] += 20.0
    assert limit.hit("a") == 0.0
    assert limit.hit("a") > 0
    small = RateLimit(1, 1.0, max_keys=2, clock=lambda: now[0])
    for key in "xyz":
        small.hit(key)
    assert len(small._buckets) == 2  # bounded memory


# ------------------------------------------------------------------------ refused: bad input


def bad(**body):
    return {"message_id": "abcdefgh12", **body}


@pytest.mark.parametrize(
    ("label", "body", "status", "expected"),
    [
        ("not json", b"{not json", 400, "JSON"),
        ("not an object", b"[1, 2]", 400, "JSON object"),
        ("nested", b"[" * 5000 + b"]" * 5000, 400, "nested deeper"),
        ("lone surrogate", b'{"message_id": "abcdefgh12", "payload": "\\ud800"}', 400, "Unicode"),
        ("missing id", {"text": "hi"}, 400, "message_id"),
        ("bad message id", {"message_id": "x", "text": "hi"}, 400, "message_id"),
        ("newline after id", {"message_id": "abcdefgh12\n", "text": "hi"}, 400, "message_id"),
        ("id is a number", {"message_id": 12345678, "text": "hi"}, 400, "message_id"),
        ("empty text", bad(text="  "), 400, "trống"),
        ("text is a number", bad(text=5), 400, "`text` must be a string"),
        ("text is a list", bad(text=[]), 400, "`text` must be a string"),
        ("payload is an object", bad(payload={}), 400, "`payload` must be a string"),
        ("too long", bad(text="a" * 2001), 400, "2000"),
        ("unknown lang", bad(text="hi", lang="fr"), 400, "lang"),
        ("lang unhashable", bad(text="hi", lang=[]), 400, "`lang` must be one of"),
        ("lang an object", bad(text="hi", lang={"vi": 1}), 400, "`lang` must be one of"),
        ("payload too long", bad(payload="x" * 65), 400, "64"),
        ("body too large", {"message_id": "abcdefgh12", "text": "a" * 20_000}, 413, "too large"),
    ],
)
@sqlite_only
async def test_bad_input_gets_4xx_with_what_to_do(server, label, body, status, expected):
    async with visitor(server) as s:
        if isinstance(body, bytes):
            resp = await s.post(
                server.make_url("/api/messages"),
                data=body,
                headers={"Content-Type": "application/json"},
            )
        else:
            resp = await s.post(server.make_url("/api/messages"), json=body)
        data = await resp.json()
    assert resp.status == status, label
    assert expected in data["error"], label


@sqlite_only
async def test_a_chunked_body_is_cut_off_at_the_limit(server):
    """No Content-Length: the 16 KB cap is applied while the body streams."""

    async def chunks():
        yield b'{"message_id": "abcdefgh12", "text": "'
        for _ in range(900):
            yield b"a" * 1024
            await asyncio.sleep(0)
        yield b'"}'

    async with visitor(server) as s:
        try:
            async with s.post(
                server.make_url("/api/messages"),
                data=chunks(),
                headers={"Content-Type": "application/json"},
            ) as resp:
                assert "Content-Length" not in resp.request_info.headers
                # Read whole, the body would be parsed and refused as too long a text (400).
                assert resp.status == 413
                assert "too large" in (await resp.json())["error"]
        except aiohttp.ClientOSError:
            pytest.fail("the server should answer before it closes the connection")


# ----------------------------------------------------------------------------- https and keys


@sqlite_only
async def test_cookie_is_secure_over_https(make_server):
    async def cookie(srv, headers=None):
        async with aiohttp.ClientSession(cookie_jar=jar()) as s:
            async with s.get(srv.make_url("/"), headers=headers) as resp:
                return resp.cookies[COOKIE], resp.headers

    morsel, headers = await cookie(await make_server(https=True))
    assert morsel["secure"] is True and "Strict-Transport-Security" in headers
    # Behind a proxy that says the browser used https: believed only when the proxy is trusted.
    proto = {"X-Forwarded-Proto": "https"}
    morsel, headers = await cookie(await make_server(trust_proxy=True), proto)
    assert morsel["secure"] is True and "Strict-Transport-Security" in headers
    morsel, headers = await cookie(await make_server(), proto)
    assert not morsel["secure"] and "Strict-Transport-Security" not in headers


@sqlite_only
async def test_same_origin_behind_an_https_proxy(make_server):
    """Behind a trusted proxy the browser's Origin is https://<public host>."""
    srv = await make_server(trust_proxy=True)
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example.vn"}
    async with aiohttp.ClientSession(headers=proxy) as s:
        async with s.get(srv.make_url("/")) as resp:
            morsel = resp.cookies[COOKIE]
        assert morsel["secure"]  # so a client on plain http would not send it back:
        cookie = {"Cookie": f"{COOKIE}={morsel.value}"}  # the proxy talks https to the browser
        for origin, expected in (("https://chat.example.vn", 200), ("http://chat.example.vn", 403)):
            status, _ = await post(
                s, srv, {"Origin": origin, **cookie}, message_id=mid(), text="xin chào"
            )
            assert status == expected, origin


def test_generated_key_is_private_and_kept(tmp_path):
    path = tmp_path / "var" / "web-session.key"
    first = key_from_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    Fernet(first)
    assert key_from_file(path) == first  # a restart keeps sessions
    assert [p.name for p in path.parent.iterdir()] == ["web-session.key"]  # no temporary left
    # A key file someone made readable to others is made private again.
    os.chmod(path, 0o644)
    assert key_from_file(path) == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@sqlite_only
async def test_sessions_survive_a_restart_and_a_key_rotation(make_server, tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    key_file = str(tmp_path / "k")
    first = await make_server(session_key_file=key_file)
    async with visitor(first) as s:
        generated = session_cookie(s)
    restarted = await make_server(session_key_file=key_file)
    async with aiohttp.ClientSession() as anon:
        status, _ = await post(
            anon, restarted, {"Cookie": f"{COOKIE}={generated}"}, message_id=mid(), text="hi"
        )
        assert status == 200
    before = await make_server(session_key=old)
    async with visitor(before) as s:
        cookie = session_cookie(s)
    for keys, expected in ((f"{new},{old}", 200), (new, 403)):
        after = await make_server(session_key=keys)
        async with aiohttp.ClientSession() as anon:
            status, _ = await post(
                anon, after, {"Cookie": f"{COOKIE}={cookie}"}, message_id=mid(), text="hi"
            )
        assert status == expected, keys


# ------------------------------------------------------------------------------------ healthz


async def test_healthz_200_then_503_when_database_unreachable(app_parts, tmp_path):
    services, engine, pipeline = app_parts
    from bot.storage.db import create_engine

    srv = TestServer(build_web_app(services, engine, build_worker(pipeline)), host="127.0.0.1")
    await srv.start_server()
    try:
        async with aiohttp.ClientSession() as s, s.get(srv.make_url("/healthz")) as resp:
            assert resp.status == 200
    finally:
        await srv.close()
    url = str(engine.url)
    broken_url = (
        f"sqlite+aiosqlite:///{tmp_path}/missing-dir/nope/x.db"
        if url.startswith("sqlite")
        else url.rsplit(":", 1)[0].rsplit("@", 1)[0] + "@127.0.0.1:1/nowhere"
    )
    broken = create_engine(broken_url)
    srv = TestServer(build_web_app(services, broken, build_worker(pipeline)), host="127.0.0.1")
    await srv.start_server()
    try:
        async with aiohttp.ClientSession() as s, s.get(srv.make_url("/healthz")) as resp:
            assert resp.status == 503
    finally:
        await srv.close()
