# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""Zalo OA channel end to end: signed webhook events in, replies out through the fake OA API.

Every case runs the real pipeline on SQLite and on PostgreSQL (`db_url`), the bot's webhook on a
real port, the inbound worker and the sender core as `serve` wires them, and the fake Zalo API
as a real HTTP server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.channels.schemas import Invalid
from bot.channels.zalo import event_key, parse_event, signature_ok, split_text, to_message
from bot.messages import Button, ContactGone, Location, Receipt, Reply
from bot.storage.repositories import inbox, outbox
from tests.channels.conftest_zalo import (  # noqa: F401 - fixtures
    FAST_RETRIES,
    SlowPipeline,
    ZaloBot,
    inbox_rows,
    outbox_rows,
    send_only,
    sessionmaker,
    start_bot,
    subscribe,
    user_state,
    zalo_api,
    zalo_bot,
)
from tests.fakes.zalo_api import (
    APP_ID,
    OA_ID,
    OA_SECRET_KEY,
    SEND,
    FakeZaloApi,
    Fault,
    event,
    receipt,
    sign,
)

GREETING = ["Đây là Làng Số", "Mời bạn chọn ngôn ngữ:\n1. Tiếng Việt\n2. Hrê"]
GOT_MEDIA = ["Tôi đã nhận ảnh hoặc vị trí"]
GOT_VOICE = ["chưa nghe hiểu được tin nhắn thoại"]  # and "Gặp cán bộ": a person listens
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


def renamed(name: str) -> Callable[[dict], dict]:
    """Another event name (signed as sent): an event the bot does not handle."""

    def tweak(ev: dict) -> dict:
        ev["event_name"] = name
        return {}

    return tweak


def seen_receipt(user: str) -> dict:
    """A read receipt naming a message id the OA never sent (or whose row is gone)."""
    return receipt("user_seen_message", user, ["0" * 32])


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
    build: Callable[[str], dict] | None = None  # user -> event, instead of `event(kind, ...)`


HELLO = {"text": "xin chào"}
CASES = [
    Case("text", "user_send_text", 200, GREETING, HELLO),
    Case("image", "user_send_image", 200, GOT_MEDIA),
    Case("location", "user_send_location", 200, GOT_MEDIA),
    Case("audio", "user_send_audio", 200, GOT_VOICE),
    Case("sticker", "user_send_sticker", 200, TEXT_ONLY),
    Case("follow", "follow", 200, GREETING),
    Case("unfollow unsubscribes", "unfollow", 200, [], subscribed=True, after=(False, False)),
    Case(
        "unknown event ignored",
        "user_send_text",
        200,
        [],
        HELLO,
        renamed("oa_send_text"),
        recorded=False,
    ),
    Case(
        "read receipt naming no row: recorded, nothing sent",
        "user_seen_message",
        200,
        [],
        build=seen_receipt,
    ),
    Case("forged signature", "user_send_text", 403, [], HELLO, forged, recorded=False),
    Case("missing signature", "user_send_text", 403, [], HELLO, unsigned, recorded=False),
    Case(
        "signed with another secret",
        "user_send_text",
        403,
        [],
        HELLO,
        signed_with_other_secret,
        recorded=False,
    ),
    Case("body changed after signing", "user_send_text", 403, [], HELLO, tampered, recorded=False),
    Case("stale timestamp", "user_send_text", 403, [], HELLO, shifted(-301), recorded=False),
    Case(
        "timestamp from the future", "user_send_text", 403, [], HELLO, shifted(+301), recorded=False
    ),
    Case("another app", "user_send_text", 403, [], HELLO, other_app, recorded=False),
    Case("bad JSON", "user_send_text", 400, [], HELLO, bad_json, recorded=False),
    Case(
        "JSON that is not an object", "user_send_text", 400, [], HELLO, json_array, recorded=False
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
async def test_webhook_cases(case: Case, zalo_bot: ZaloBot, services: Any) -> None:
    user = f"user-{abs(hash(case.label)) % 10**8}"
    if case.subscribed:
        await subscribe(services.sessionmaker, "zalo", user)
    ev = case.build(user) if case.build else event(case.kind, user, **case.message)
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
        assert [(r.message_id, r.status, r.payload) for r in rows] == [
            (event_key(ev), "done", None)
        ]
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


async def test_answers_at_once_when_processing_is_slow(
    zalo_api: FakeZaloApi, services: Any, pipeline: Any
) -> None:
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


async def test_one_users_events_are_processed_in_order(
    zalo_api: FakeZaloApi, services: Any, pipeline: Any
) -> None:
    """The first message takes longer than the second: the second still waits for it (a "1"
    handled first would find no options offered)."""
    slow_first = SlowPipeline(pipeline, 0.5, slow=lambda msg: msg.text == "xin chào")
    bot = await start_bot(zalo_api, slow_first, services.sessionmaker)
    try:
        await bot.post(event("user_send_text", "u-order", text="xin chào"))
        await bot.post(event("user_send_text", "u-order", text="1"))
        await bot.settle()
        texts = zalo_api.texts("u-order")
        assert len(texts) == len(GREETING) + 1
        assert texts[-1].startswith("Đã chọn ngôn ngữ: Tiếng Việt")
    finally:
        await bot.close()


# --------------------------------------------------------------------------- after the turn


async def outbox_states(sm: Any, user: str) -> list[tuple[str, str | None]]:
    return [(r.status, r.platform_ref) for r in await outbox_rows(sm, user)]


async def test_receipts_mark_the_outbox_rows_delivered_then_read(
    zalo_bot: ZaloBot, services: Any
) -> None:
    user, sm = "u-receipt", services.sessionmaker
    await zalo_bot.post(event("user_send_text", user, text="xin chào"))
    await zalo_bot.settle()
    first, second = [s for s in zalo_bot.fake.sent if s.user_id == user]
    ids = [first.message_id, second.message_id]
    assert await outbox_states(sm, user) == [("sent", ids[0]), ("sent", ids[1])]
    ms = int(time.time() * 1000)

    ev = receipt("user_received_message", user, ids, timestamp=str(ms))
    assert (await zalo_bot.post(ev))[0] == 200
    await zalo_bot.settle()
    assert await outbox_states(sm, user) == [("delivered", ids[0]), ("delivered", ids[1])]

    assert (
        await zalo_bot.post(receipt("user_seen_message", user, ids[:1], timestamp=str(ms + 1)))
    )[0] == 200
    await zalo_bot.settle()
    assert await outbox_states(sm, user) == [("read", ids[0]), ("delivered", ids[1])]

    # A delivery receipt arriving late does not take "read" back; a read one skips "delivered".
    await zalo_bot.post(receipt("user_received_message", user, ids, timestamp=str(ms + 2)))
    await zalo_bot.post(receipt("user_seen_message", user, ids[1:], timestamp=str(ms + 3)))
    await zalo_bot.settle()
    assert await outbox_states(sm, user) == [("read", ids[0]), ("read", ids[1])]

    # Receipts are recorded and handled once; they are not answered.
    assert len(zalo_bot.fake.sent) == 2
    rows = await inbox_rows(sm)
    assert [(r.status, r.payload) for r in rows] == [("done", None)] * 5


async def test_a_receipt_marks_only_the_rows_it_names(zalo_bot: ZaloBot, services: Any) -> None:
    """Two users, one receipt: only the named row moves; a repeated receipt changes nothing."""
    sm = services.sessionmaker
    for user in ("u-r1", "u-r2"):
        await zalo_bot.post(event("user_send_sticker", user))
    await zalo_bot.settle()
    (one,) = [s for s in zalo_bot.fake.sent if s.user_id == "u-r1"]
    ev = receipt("user_seen_message", "u-r1", [one.message_id])
    await zalo_bot.post(ev)
    await zalo_bot.post(ev)  # Zalo retrying it
    await zalo_bot.settle()
    assert [s for s, _ in await outbox_states(sm, "u-r1")] == ["read"]
    assert [s for s, _ in await outbox_states(sm, "u-r2")] == ["sent"]
    assert len(await inbox_rows(sm)) == 3


async def test_unfollow_fails_unsent_replies_and_unsubscribes(
    zalo_api: FakeZaloApi, services: Any, pipeline: Any
) -> None:
    """Replies waiting to go (rate limited: due in FAST_RETRIES.max_retry_after seconds) when the
    user unfollows are failed at once, not sent later; the user is unreachable, unsubscribed."""
    user, sm = "u-unfollow", services.sessionmaker
    await subscribe(sm, "zalo", user)
    bot = await start_bot(zalo_api, pipeline, sm, rate_limit_pause=60.0)
    try:
        zalo_api.fail(SEND, Fault(error=-32, message="Your application reached limit call api"))
        ids = await bot.worker.sender.send_now(
            "zalo", user, [Reply("Thông báo một"), Reply("Thông báo hai")]
        )
        # Both wait: the first for its retry (send_now's flush, or the in-process dispatcher if
        # it leased the row between the insert and the flush), the second behind it.
        for _ in range(200):
            async with sm() as session:
                states = [st for st, _ in (await outbox.states(session, ids)).values()]
            if states == ["queued"] * 2:
                break
            await asyncio.sleep(0.05)
        assert states == ["queued"] * 2
        assert (await bot.post(event("unfollow", user)))[0] == 200
        # Well before the rows fall due: only the unfollow can have finished them.
        await bot.settle(timeout=FAST_RETRIES.max_retry_after - 1)
        async with sm() as session:
            assert await outbox.states(session, ids) == {i: ("failed", "gone") for i in ids}
        assert await user_state(sm, "zalo", user) == (False, False)
        assert zalo_api.calls[SEND] == 1 and zalo_api.sent == []
    finally:
        await bot.close()
    (row,) = await inbox_rows(sm)
    assert (row.status, row.payload) == ("done", None)


async def test_a_5xx_after_the_turn_committed_is_retried_and_delivered_once(
    zalo_bot: ZaloBot, services: Any
) -> None:
    """The turn committed its reply; the send gets a 502. The row is sent again, the turn is not
    run again: one reply at Zalo in the end."""
    user = "u-5xx"
    zalo_bot.fake.fail(SEND, Fault(status=502))
    await zalo_bot.post(event("user_send_sticker", user))
    await zalo_bot.settle()
    texts = zalo_bot.fake.texts(user)
    assert len(texts) == 1 and TEXT_ONLY[0] in texts[0]
    assert zalo_bot.fake.calls[SEND] == 2
    (row,) = await inbox_rows(services.sessionmaker)
    assert (row.status, row.attempts) == ("done", 1)  # handled once
    (out,) = await outbox_rows(services.sessionmaker, user)
    assert (out.status, out.attempts, out.error, out.payload) == ("sent", 2, None, None)
    assert out.platform_ref == zalo_bot.fake.sent[0].message_id


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


def numbered_and_buttons(sent: list, fake: FakeZaloApi) -> None:
    (only,) = sent
    assert only.text == "Chọn:\n1. Có\n2. Không"
    assert [b["title"] for b in only.attachment["payload"]["buttons"]] == ["Có", "Không"]


def long_text_split(sent: list, fake: FakeZaloApi) -> None:
    assert len(sent) == 3
    assert all(0 < len(s.text) <= 2000 for s in sent)
    # Cut at spaces only (no word broken, nothing lost), and late in each window (no stubs).
    # The shared split_text (bot/channels/base.py) no longer prefers a sentence end over a space.
    assert " ".join(s.text for s in sent) == LONG
    assert all(len(s.text) > 1000 for s in sent[:-1])


def photo_url(sent: list, fake: FakeZaloApi) -> None:
    text, image = sent
    assert (text.text, text.attachment) == ("Ảnh minh hoạ", None)
    assert image.attachment == {
        "type": "template",
        "payload": {
            "template_type": "media",
            "elements": [{"media_type": "image", "url": "https://example.org/a.jpg"}],
        },
    }


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
    ReplyCase(
        "buttons as numbered options, and as buttons (tests/channels/test_zalo_buttons.py)",
        Reply(text="Chọn:", buttons=(Button("Có", "/yes"), Button("Không", "/no"))),
        numbered_and_buttons,
    ),
    ReplyCase("long text split under 2000 characters", Reply(text=LONG), long_text_split),
    ReplyCase(
        "photo by URL", Reply(text="Ảnh minh hoạ", photo="https://example.org/a.jpg"), photo_url
    ),
    ReplyCase("photo from content, uploaded", Reply(photo="media/map.png"), photo_file),
    ReplyCase("document from content, uploaded", Reply(document="media/guide.pdf"), document_file),
    ReplyCase(
        "voice file: not supported by Zalo, skipped", Reply(voice="media/hello.ogg"), texts_are()
    ),
]


@pytest.mark.parametrize("case", REPLY_CASES, ids=[c.label for c in REPLY_CASES])
async def test_replies(
    case: ReplyCase, zalo_api: FakeZaloApi, sessionmaker: Any, tmp_path: Any
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "map.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (media / "guide.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (media / "hello.ogg").write_bytes(b"OggS")
    async with send_only(zalo_api, sessionmaker, content_dir=tmp_path) as zs:
        assert await zs.send("u-reply", case.reply) == ("sent", None)
        if case.reply.photo and not case.reply.photo.startswith("http"):
            assert await zs.send("u-reply", case.reply) == ("sent", None)  # uploaded once
            assert len(zalo_api.uploads) == 1
            zalo_api.sent.pop()
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
    assert [(m.kind, m.ref) for m in img.media] == [
        ("photo", "https://photo-stal-19.zadn.vn/photo.jpg")
    ]
    voice = to_message(event("user_send_audio", "u1"), "k")
    assert [m.kind for m in voice.media] == ["voice"]
    sticker = to_message(event("user_send_sticker", "u1"), "k")
    assert sticker.is_empty and sticker.sender_id == "u1"
    follow = to_message(event("follow", "u2"), "k")
    assert (follow.sender_id, follow.payload) == ("u2", "/start")
    assert to_message(event("unfollow", "u2"), "k") is None
    broken = event("user_send_location", "u1")
    broken["message"]["attachments"][0]["payload"]["coordinates"] = {
        "latitude": "north",
        "longitude": "1",
    }
    assert to_message(broken, "k").location is None


def test_events_the_worker_handles_besides_messages() -> None:
    """What `parse` gives the worker: the contact gone, receipts naming our message ids (the
    user is the receipt's recipient, not the OA that sent), None for what needs nothing."""
    unfollow = event("unfollow", "u2")
    assert parse_event(unfollow) == ContactGone("zalo", "u2", event_key(unfollow))
    seen = receipt("user_seen_message", "u3", ["a1", "b2"])
    assert parse_event(seen) == Receipt("zalo", "u3", event_key(seen), ("a1", "b2"), "read")
    got = parse_event(receipt("user_received_message", "u3", ["a1"]))
    assert isinstance(got, Receipt) and (got.sender_id, got.state) == ("u3", "delivered")
    assert got.sender_id != OA_ID
    text = event("user_send_text", "u1", text="xin chào")
    assert parse_event(text).text == "xin chào"
    assert parse_event(dict(text, event_name="oa_send_text")) is None
    with pytest.raises(Invalid):  # a message without its sender: recorded as rejected
        parse_event({"event_name": "user_send_text", "message": {"msg_id": "1"}})


def test_split_text_keeps_words_whole() -> None:
    assert split_text("a" * 10, 4) == ["aaaa", "aaaa", "aa"]  # no space at all: hard cut
    pieces = split_text("một hai ba bốn năm sáu bảy", 10)
    assert all(len(p) <= 10 for p in pieces)
    assert " ".join(pieces) == "một hai ba bốn năm sáu bảy"
    assert split_text("   ", 2000) == []


# --------------------------------------------------------------------------- failing turns


@pytest.mark.parametrize(
    "failures", [2, inbox.MAX_ATTEMPTS + 2], ids=["fails twice then works", "fails every time"]
)
async def test_failing_turns_are_retried_then_recorded_as_failed(
    failures: int, zalo_bot: ZaloBot, services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pipeline fails (its NLU raises: a bug, a hiccup): the worker tries the message
    again with backoff, up to inbox.MAX_ATTEMPTS times, then marks it failed (never forever);
    only the error's type is kept, never the user's text."""
    calls: list[str] = []
    real_parse = services.nlu.parse

    async def flaky_parse(text: str, lang: str) -> Any:
        calls.append(text)
        if len(calls) <= failures:
            raise RuntimeError(f"{text}: user text that must not be stored")
        return await real_parse(text, lang)

    monkeypatch.setattr(services.nlu, "parse", flaky_parse)
    ev = event("user_send_text", "u-flaky", text="xin chào")
    assert (await zalo_bot.post(ev))[0] == 200
    await zalo_bot.settle()
    tries = min(failures + 1, inbox.MAX_ATTEMPTS)
    replied = failures < inbox.MAX_ATTEMPTS
    assert calls == ["xin chào"] * tries
    assert len(zalo_bot.fake.texts("u-flaky")) == (len(GREETING) if replied else 0)
    (row,) = await inbox_rows(services.sessionmaker)
    assert (row.status, row.attempts, row.payload) == ("done" if replied else "failed", tries, None)
    assert row.error in (None, "RuntimeError")  # the type only, never the message's text
    if not replied:
        assert row.error == "RuntimeError"
        assert await outbox_rows(services.sessionmaker) == []  # a failed turn queued nothing
