"""The web chat over real HTTP: page, conversation, bad input, and /healthz."""

from __future__ import annotations

import uuid

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import build_web_app, build_worker


def mid() -> str:
    return uuid.uuid4().hex


async def post(session, server, **body):
    async with session.post(server.make_url("/api/messages"), json=body) as resp:
        return resp.status, await resp.json()


async def test_page_is_served_without_outside_assets(server):
    async with aiohttp.ClientSession() as s, s.get(server.make_url("/")) as resp:
        html = await resp.text()
    assert resp.status == 200
    assert 'name="viewport"' in html
    assert "http://" not in html and "https://" not in html


async def test_conversation_greet_language_question_consent(server):
    sender = "web-" + mid()[:12]
    async with aiohttp.ClientSession() as s:
        status, hello = await post(s, server, sender=sender, message_id=mid(), text="xin chào")
        assert status == 200
        assert any(
            b["payload"] == "/lang vi" for r in hello["replies"] for b in r.get("buttons", [])
        )
        status, chosen = await post(s, server, sender=sender, message_id=mid(), payload="/lang vi")
        assert chosen["lang"] == "vi"
        status, answer = await post(
            s,
            server,
            sender=sender,
            message_id=mid(),
            text="ho tro lam nha bao nhieu tien",
            lang="vi",
        )
        text = " ".join(r["text"] for r in answer["replies"])
        assert "40 triệu" in text and "Nguồn:" in text
        status, notice = await post(
            s, server, sender=sender, message_id=mid(), text="/subscribe", lang="vi"
        )
        assert any(
            b["payload"] == "/consent yes" for r in notice["replies"] for b in r.get("buttons", [])
        )
        status, done = await post(
            s, server, sender=sender, message_id=mid(), payload="/consent yes", lang="vi"
        )
        assert "Đã đăng ký" in " ".join(r["text"] for r in done["replies"])


async def test_replayed_message_id_is_answered_once(server):
    body = {"sender": "web-replay-1", "message_id": mid(), "text": "cảm ơn", "lang": "vi"}
    async with aiohttp.ClientSession() as s:
        _, first = await post(s, server, **body)
        _, second = await post(s, server, **body)
    assert first["replies"] and not first["duplicate"]
    assert second["duplicate"] and second["replies"] == []


@pytest.mark.parametrize(
    ("label", "body", "expected"),
    [
        ("not json", None, "JSON"),
        ("missing sender", {"message_id": "abcdefgh12", "text": "hi"}, "sender"),
        ("bad message id", {"sender": "abcdefgh12", "message_id": "x", "text": "hi"}, "message_id"),
        ("empty text", {"sender": "abcdefgh12", "message_id": "abcdefgh13", "text": "  "}, "trống"),
        (
            "too long",
            {"sender": "abcdefgh12", "message_id": "abcdefgh14", "text": "a" * 2001},
            "2000",
        ),
        (
            "unknown lang",
            {"sender": "abcdefgh12", "message_id": "abcdefgh15", "text": "hi", "lang": "fr"},
            "lang",
        ),
        (
            "payload too long",
            {"sender": "abcdefgh12", "message_id": "abcdefgh16", "payload": "x" * 65},
            "64",
        ),
    ],
)
async def test_bad_input_gets_400_with_what_to_do(server, label, body, expected):
    async with aiohttp.ClientSession() as s:
        if body is None:
            resp = await s.post(
                server.make_url("/api/messages"),
                data=b"{not json",
                headers={"Content-Type": "application/json"},
            )
        else:
            resp = await s.post(server.make_url("/api/messages"), json=body)
        data = await resp.json()
    assert resp.status == 400, label
    assert expected in data["error"], label


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
