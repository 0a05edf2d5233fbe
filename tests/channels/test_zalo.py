# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""Zalo OA channel end to end: signed webhook events in, replies out through the fake OA API.

Every case runs the real pipeline on SQLite and on PostgreSQL (`db_url`), the bot's webhook on a
real port, and the fake Zalo API as a real HTTP server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.channels.zalo import event_key, signature_ok, split_text, to_message
from bot.messages import Button, Location, Reply
from tests.channels.conftest_zalo import (  # noqa: F401 - fixtures
    SlowPipeline,
    ZaloBot,
    inbox_rows,
    make_channel,
    sessionmaker,
    start_bot,
    subscribe,
    user_state,
    zalo_api,
    zalo_bot,
)
from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, FakeZaloApi, event, sign

GREETING = ["Đây là Làng Số", "Mời bạn chọn ngôn ngữ:\n1. Tiếng Việt\n2. Hrê"]
GOT_MEDIA = ["Tôi đã nhận ảnh hoặc vị trí"]
TEXT_ONLY = ["Tôi chỉ đọc được tin nhắn chữ"]


def forged(ev: dict) -> dict:
    return {"signature": "mac=" + "0" * 64}


def unsigned(ev: dict) -> dict:
    return {"signature": ""}


def signed_with_other_secret(ev: dict) -> dict:
    return {"oa_secret_key": "not-the-oa-secret"}


def tampered(ev: dict) -> dict:
    """Signed, then the text changed in transit."""
    import json

    raw = json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode()
    header = sign(APP_ID, raw, ev["timestamp"], OA_SECRET_KEY)
    return {"body": raw.replace("xin chào".encode(), "tạm biệt".encode()), "signature": header}


def shifted(seconds: float) -> Callable[[dict], dict]:
    def tweak(ev: dict) -> dict:
        ev["timestamp"] = str(int((time.time() + seconds) * 1000))
        return {}
    return tweak


def other_app(ev: dict) -> dict:
    ev["app_id"] = "999999999999"
    return {}


def bad_json(ev: dict) -> dict:
    return {"body": b'{"app_id": "1", "timestamp": ', "signature": "mac=" + "0" * 64}


def json_array(ev: dict) -> dict:
    return {"body": b"[1, 2]", "signature": "mac=" + "0" * 64}


@dataclass
class Case:
    label: str
    kind: str
    status: int
    replies: list[str]  # a fragment of each message the user gets, in order; [] = no reply
    message: dict[str, Any] = field(default_factory=dict)
    tweak: Callable[[dict], dict] | None = None
    subscribed: bool = False
    after: tuple[bool | None, bool | None] | None = None  # (reachable, subscribed) afterwards
    recorded: bool = True


CASES = [
    Case("text", "user_send_text", 200, GREETING, {"text": "xin chào"}),
    Case("image", "user_send_image", 200, GOT_MEDIA),
    Case("location", "user_send_location", 200, GOT_MEDIA),
    Case("audio", "user_send_audio", 200, GOT_MEDIA),
    Case("sticker", "user_send_sticker", 200, TEXT_ONLY),
    Case("follow", "follow", 200, GREETING),
    Case("unfollow unsubscribes", "unfollow", 200, [], subscribed=True, after=(False, False)),
    Case("unknown event ignored", "user_seen_message", 200, [], recorded=False),
    Case("forged signature", "user_send_text", 403, [], {"text": "xin chào"}, forged, recorded=False),
    Case("missing signature", "user_send_text", 403, [], {"text": "xin chào"}, unsigned, recorded=False),
    Case("signed with another secret", "user_send_text", 403, [], {"text": "xin chào"}, signed_with_other_secret,
         recorded=False),
    Case("body changed after signing", "user_send_text", 403, [], {"text": "xin chào"}, tampered, recorded=False),
    Case("stale timestamp", "user_send_text", 403, [], {"text": "xin chào"}, shifted(-301), recorded=False),
    Case("timestamp from the future", "user_send_text", 403, [], {"text": "xin chào"}, shifted(+301),
         recorded=False),
    Case("another app", "user_send_text", 403, [], {"text": "xin chào"}, other_app, recorded=False),
    Case("bad JSON", "user_send_text", 400, [], {"text": "xin chào"}, bad_json, recorded=False),
    Case("JSON that is not an object", "user_send_text", 400, [], {"text": "xin chào"}, json_array,
         recorded=False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_webhook_cases(case: Case, zalo_bot: ZaloBot, services: Any) -> None:
    user = f"user-{abs(hash(case.label)) % 10**8}"
    if case.subscribed:
        await subscribe(services.sessionmaker, "zalo", user)
    ev = event(case.kind, user, **case.message)
    kw = case.tweak(ev) if case.tweak else {}
    status, _ = await zalo_bot.post(ev, **kw)
    assert status == case.status
    await zalo_bot.settle()

    sent = [s for s in zalo_bot.fake.sent if s.user_id == user]
    assert len(sent) == len(case.replies), [s.text for s in sent]
    for got, fragment in zip(sent, case.replies, strict=True):
        assert fragment in got.text
    rows = await inbox_rows(services.sessionmaker)
    if case.recorded:
        assert [(r.message_id, r.status, r.payload) for r in rows] == [(event_key(ev), "done", None)]
    else:
        assert rows == []  # refused or ignored requests leave nothing behind
    if case.after is not None:
        assert await user_state(services.sessionmaker, "zalo", user) == case.after


async def test_a_typed_number_picks_the_numbered_option(zalo_bot: ZaloBot) -> None:
    """Buttons go out as numbered options; the dialogue maps "1" back to the first one."""
    await zalo_bot.post(event("user_send_text", "u-num", text="xin chào"))
    await zalo_bot.settle()
    await zalo_bot.post(event("user_send_text", "u-num", text="1"))
    await zalo_bot.settle()
    texts = zalo_bot.fake.texts("u-num")
    assert "1. Tiếng Việt" in texts[1]
    assert texts[2].startswith("Đã chọn ngôn ngữ: Tiếng Việt")


async def test_replayed_event_is_answered_once(zalo_bot: ZaloBot, services: Any) -> None:
    ev = event("user_send_text", "u-replay", text="xin chào")
    first = await asyncio.gather(*(zalo_bot.post(ev) for _ in range(3)))
    await zalo_bot.settle()
    again, _ = await zalo_bot.post(ev)  # Zalo retrying after we answered
    await zalo_bot.settle()
    assert [status for status, _ in first] + [again] == [200] * 4
    assert len(zalo_bot.fake.texts("u-replay")) == len(GREETING)
    assert len(await inbox_rows(services.sessionmaker)) == 1


async def test_follow_without_msg_id_is_deduplicated_by_user_and_time(zalo_bot: ZaloBot) -> None:
    ev = event("follow", "u-follow")
    assert event_key(ev) == f"follow:u-follow:{ev['timestamp']}"
    await zalo_bot.post(ev)
    await zalo_bot.post(ev)
    await zalo_bot.settle()
    assert len(zalo_bot.fake.texts("u-follow")) == len(GREETING)


async def test_answers_at_once_when_processing_is_slow(zalo_api: FakeZaloApi, services: Any, pipeline: Any) -> None:
    """The event is recorded and answered 200 first; the reply follows when processing is done."""
    bot = await start_bot(zalo_api, SlowPipeline(pipeline, 3.0), services.sessionmaker)
    try:
        status, seconds = await bot.post(event("user_send_text", "u-slow", text="xin chào"))
        assert status == 200
        assert seconds < 2.0
        assert zalo_api.texts("u-slow") == []
        rows = await inbox_rows(services.sessionmaker)
        assert [r.status for r in rows] == ["received"]  # recorded before the answer
        await bot.settle()
        assert len(zalo_api.texts("u-slow")) == len(GREETING)
    finally:
        await bot.close()


async def test_one_users_events_are_processed_in_order(zalo_api: FakeZaloApi, services: Any,
                                                       pipeline: Any) -> None:
    bot = await start_bot(zalo_api, SlowPipeline(pipeline, 0.2), services.sessionmaker)
    try:
        await bot.post(event("user_send_text", "u-order", text="xin chào"))
        await bot.post(event("user_send_text", "u-order", text="1"))
        await bot.settle()
        texts = zalo_api.texts("u-order")
        assert texts[-1].startswith("Đã chọn ngôn ngữ: Tiếng Việt")
    finally:
        await bot.close()


# --------------------------------------------------------------------------- replies


@dataclass
class ReplyCase:
    label: str
    reply: Reply
    expect: Callable[[list, FakeZaloApi], None]


def texts_are(*expected: str) -> Callable[[list, FakeZaloApi], None]:
    def check(sent: list, fake: FakeZaloApi) -> None:
        assert [s.text for s in sent] == list(expected)
        assert all(s.attachment is None for s in sent)
    return check


def long_text_split(sent: list, fake: FakeZaloApi) -> None:
    assert len(sent) == 3
    assert all(0 < len(s.text) <= 2000 for s in sent)
    assert " ".join(s.text for s in sent).split() == LONG.split()
    assert all(s.text.endswith(".") for s in sent[:-1])  # cut at a sentence, not in a word


def photo_url(sent: list, fake: FakeZaloApi) -> None:
    text, image = sent
    assert (text.text, text.attachment) == ("Ảnh minh hoạ", None)
    assert image.attachment == {"type": "template", "payload": {"template_type": "media", "elements": [
        {"media_type": "image", "url": "https://example.org/a.jpg"}]}}


def photo_file(sent: list, fake: FakeZaloApi) -> None:
    (only,) = sent
    element = only.attachment["payload"]["elements"][0]
    assert element["attachment_id"] == fake.uploads[0]["attachment_id"]
    assert fake.uploads[0]["filename"] == "map.png"


def document_file(sent: list, fake: FakeZaloApi) -> None:
    (only,) = sent
    assert only.attachment == {"type": "file", "payload": {"token": fake.uploads[0]["token"]}}


LONG = " ".join(f"Câu số {i} nói về chính sách hỗ trợ đồng bào." for i in range(110))
REPLY_CASES = [
    ReplyCase("text", Reply(text="Xin chào"), texts_are("Xin chào")),
    ReplyCase("buttons as numbered options", Reply(text="Chọn:", buttons=(Button("Có", "/yes"), Button("Không", "/no"))),
              texts_are("Chọn:\n1. Có\n2. Không")),
    ReplyCase("long text split under 2000 characters", Reply(text=LONG), long_text_split),
    ReplyCase("photo by URL", Reply(text="Ảnh minh hoạ", photo="https://example.org/a.jpg"), photo_url),
    ReplyCase("photo from content, uploaded", Reply(photo="media/map.png"), photo_file),
    ReplyCase("document from content, uploaded", Reply(document="media/guide.pdf"), document_file),
    ReplyCase("voice file: not supported by Zalo, skipped", Reply(voice="media/hello.ogg"), texts_are()),
]


@pytest.mark.parametrize("case", REPLY_CASES, ids=[c.label for c in REPLY_CASES])
async def test_replies(case: ReplyCase, zalo_api: FakeZaloApi, sessionmaker: Any, tmp_path: Any) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "map.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (media / "guide.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (media / "hello.ogg").write_bytes(b"OggS")
    channel = make_channel(zalo_api, None, sessionmaker, content_dir=tmp_path)
    await channel.start()
    try:
        await channel.send("u-reply", case.reply)
        if case.reply.photo and not case.reply.photo.startswith("http"):
            await channel.send("u-reply", case.reply)  # sent twice, uploaded once
            assert len(zalo_api.uploads) == 1
            zalo_api.sent.pop()
    finally:
        await channel.stop()
    case.expect([s for s in zalo_api.sent if s.user_id == "u-reply"], zalo_api)


# --------------------------------------------------------------------------- units


def test_signature_is_plain_sha256_of_app_id_body_timestamp_secret() -> None:
    import hashlib

    body = b'{"event_name":"user_send_text"}'
    expected = hashlib.sha256(b"123" + body + b"1700000000000" + b"secret").hexdigest()
    assert signature_ok(f"mac={expected}", "123", body, "1700000000000", "secret")
    assert signature_ok(f"mac={expected.upper()}", "123", body, "1700000000000", "secret")
    assert not signature_ok(f"mac={expected}", "123", body + b" ", "1700000000000", "secret")
    import hmac

    not_plain = hmac.new(b"secret", b"123" + body + b"1700000000000", hashlib.sha256).hexdigest()
    assert not signature_ok(f"mac={not_plain}", "123", body, "1700000000000", "secret")


def test_events_become_neutral_messages() -> None:
    loc = event("user_send_location", "u1")
    assert to_message(loc, "k").location == Location(15.1205, 108.7923)
    img = to_message(event("user_send_image", "u1"), "k")
    assert [(m.kind, m.ref) for m in img.media] == [("photo", "https://photo-stal-19.zadn.vn/photo.jpg")]
    voice = to_message(event("user_send_audio", "u1"), "k")
    assert [m.kind for m in voice.media] == ["voice"]
    sticker = to_message(event("user_send_sticker", "u1"), "k")
    assert sticker.is_empty and sticker.sender_id == "u1"
    follow = to_message(event("follow", "u2"), "k")
    assert (follow.sender_id, follow.payload) == ("u2", "/start")
    assert to_message(event("unfollow", "u2"), "k") is None
    broken = event("user_send_location", "u1")
    broken["message"]["attachments"][0]["payload"]["coordinates"] = {"latitude": "north", "longitude": "1"}
    assert to_message(broken, "k").location is None


def test_split_text_keeps_words_whole() -> None:
    assert split_text("a" * 10, 4) == ["aaaa", "aaaa", "aa"]  # no space at all: hard cut
    pieces = split_text("một hai ba bốn năm sáu bảy", 10)
    assert all(len(p) <= 10 for p in pieces)
    assert " ".join(pieces) == "một hai ba bốn năm sáu bảy"
    assert split_text("   ") == []


class FlakyPipeline:
    """The real pipeline, failing its first `failures` turns (a database hiccup, a bug)."""

    def __init__(self, pipeline: Any, failures: int) -> None:
        self.inner, self.failures, self.services, self.calls = pipeline, failures, pipeline.services, 0

    async def handle(self, msg: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("xin chào: user text that must not be stored")
        return await self.inner.handle(msg)


@pytest.mark.parametrize("failures,replied,status", [(2, True, "done"), (5, False, "failed")],
                         ids=["fails twice then works", "fails every time"])
async def test_failing_turns_are_retried_then_recorded_as_failed(
        failures: int, replied: bool, status: str, zalo_api: FakeZaloApi, services: Any, pipeline: Any) -> None:
    flaky = FlakyPipeline(pipeline, failures)
    bot = await start_bot(zalo_api, flaky, services.sessionmaker)
    try:
        assert (await bot.post(event("user_send_text", "u-flaky", text="xin chào")))[0] == 200
        await bot.settle()
    finally:
        await bot.close()
    assert flaky.calls == min(failures + 1, 3)
    assert bool(zalo_api.texts("u-flaky")) is replied
    (row,) = await inbox_rows(services.sessionmaker)
    assert (row.status, row.payload) == (status, None)
    assert row.error in (None, "RuntimeError")  # the type only, never the message's text
