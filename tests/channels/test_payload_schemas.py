"""The payload schemas (bot/channels/schemas.py) and what the webhooks do with a payload that does
not fit: the cases the red-team run found, one by one, on SQLite and on PostgreSQL.

A signed but malformed update is recorded as rejected (no sender, never resumed, one WARNING
without personal data) and answered 200; a body that is not JSON, too deep or too big is 400/413;
a forged request is 403 and leaves nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.channels.schemas import (
    Invalid,
    finite_numbers,
    location,
    telegram_update,
    zalo_event,
    zalo_timestamp,
)
from bot.channels.telegram import SECRET_HEADER, TelegramChannel, to_incoming
from bot.channels.zalo import WEBHOOK_PATH, ZaloChannel, parse_event, signature_ok
from bot.config import ZaloSettings
from bot.messages import Location
from bot.storage.models import InboxEntry
from bot.storage.repositories import inbox
from tests.channels.fuzz_harness import Route, assert_clean, fuzz_services
from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, sign

SECRET = "test_Secret-0123456789"
CONTENT = Path(__file__).resolve().parents[2] / "content"
CHAT = 5512873401
TEXT = "Nhà tôi ở thôn Làng Mới"


def update(update_id: int = 1, **message: Any) -> dict[str, Any]:
    msg = {
        "message_id": 7,
        "date": 1718093002,
        "chat": {"id": CHAT, "type": "private"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Hùng"},
        "text": TEXT,
    }
    msg.update(message)
    return {"update_id": update_id, "message": msg}


# --------------------------------------------------------------------------- the schemas


@pytest.mark.parametrize(
    ("label", "payload", "field"),
    [
        ("text is a number", update(text=5), "message.text"),
        ("update_id false", dict(update(), update_id=False), "update_id"),
        ("update_id a string", dict(update(), update_id="1"), "update_id"),
        ("update_id negative", dict(update(), update_id=-1), "update_id"),
        (
            "photo width a string, huge height",
            update(photo=[{"file_id": "a", "width": "x" * 50, "height": 10**9}]),
            "message.photo[].width",
        ),
        (
            "photo sides beyond any photo",
            update(photo=[{"file_id": "a", "width": 10**400, "height": 10**400}]),
            "message.photo[].width",
        ),
        ("chat id a list", update(chat={"id": [], "type": "private"}), "message.chat.id"),
        ("chat id beyond 2**53", update(chat={"id": 2**60, "type": "x"}), "message.chat.id"),
        (
            "chat type with a newline",
            update(chat={"id": 1, "type": "private\n"}),
            "message.chat.type",
        ),
        ("message a list", {"update_id": 1, "message": []}, "message"),
        ("from a string", update(**{"from": "x"}), "message.from"),
        ("is_bot a number", update(**{"from": {"id": 1, "is_bot": 0}}), "message.from.is_bot"),
        ("file id with a newline", update(voice={"file_id": "abc\n"}), "message.voice.file_id"),
        ("text beyond any message", update(text="a" * 20_000), "message.text"),
        (
            "callback query id with a trailing newline",
            {"update_id": 2, "callback_query": {"id": "123\n", "from": {"id": 1}, "data": "x"}},
            "query.id",
        ),
        (
            "callback data over 64 bytes",
            {"update_id": 2, "callback_query": {"id": "1", "from": {"id": 1}, "data": "ư" * 40}},
            "query.data",
        ),
        (
            "callback from missing",
            {"update_id": 2, "callback_query": {"id": "1", "data": "/lang vi"}},
            "query.from",
        ),
        (
            "member chat a number",
            {"update_id": 3, "my_chat_member": {"chat": 5, "new_chat_member": {"status": "x"}}},
            "member.chat",
        ),
    ],
)
def test_telegram_schema_rejects(label: str, payload: dict, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        telegram_update(payload)
    assert caught.value.field == field
    assert str(CHAT) not in caught.value.reason and TEXT not in caught.value.reason


@pytest.mark.parametrize(
    "coords",
    [
        {"latitude": "x", "longitude": 108.4},
        {"latitude": 91, "longitude": 108.4},
        {"latitude": 14.9, "longitude": -180.5},
        {"latitude": 10**400, "longitude": 1},
        {"latitude": True, "longitude": 1},
        {"latitude": [], "longitude": {}},
        "15,108",
        [],
    ],
)
def test_a_location_out_of_range_is_dropped_not_a_crash(coords: Any) -> None:
    msg = to_incoming(update(location=coords))
    assert msg is not None and msg.location is None and msg.text == TEXT
    assert location("15.12", 108) == Location(15.12, 108.0)  # Zalo sends strings
    assert location("nan", 1) is None and location("1e999", 1) is None


def test_a_well_formed_update_reads_as_before() -> None:
    msg = to_incoming(
        update(
            text=None,
            caption="a\x00b",
            photo=[
                {"file_id": "small", "width": 90, "height": 60, "file_size": 10},
                {"file_id": "large", "width": 1280, "height": 853},
            ],
            location={"latitude": 14.97, "longitude": 108.41},
            contact={"phone_number": "84912345678", "first_name": "Đinh", "last_name": "Hùng"},
        )
    )
    assert msg is not None
    assert (msg.sender_id, msg.message_id, msg.text) == (str(CHAT), "1", "ab")  # NUL removed
    assert [m.ref for m in msg.media] == ["large"]
    assert msg.location == Location(14.97, 108.41)
    assert (msg.contact.phone, msg.contact.name) == ("84912345678", "Đinh Hùng")
    assert telegram_update({"update_id": 9, "edited_message": "anything"}).message is None
    odd_mime = to_incoming(update(voice={"file_id": "v1", "mime_type": "audio/ogg; codecs=opus"}))
    assert odd_mime is not None and [(m.ref, m.mime_type) for m in odd_mime.media] == [("v1", None)]


@pytest.mark.parametrize(
    ("label", "payload", "field"),
    [
        ("event_name a list", {"event_name": []}, "event_name"),
        ("event_name with a newline", {"event_name": "follow\n"}, "event_name"),
        ("timestamp beyond any date", {"event_name": "follow", "timestamp": 10**400}, "timestamp"),
        ("timestamp a float", {"event_name": "follow", "timestamp": 1.5}, "timestamp"),
        ("timestamp a bool", {"event_name": "follow", "timestamp": True}, "timestamp"),
        (
            "sender id an object",
            {"event_name": "user_send_text", "sender": {"id": {"a": 1}}},
            "sender.id",
        ),
        (
            "msg_id beyond any id",
            {"event_name": "user_send_text", "message": {"msg_id": "a" * 300}},
            "message.msg_id",
        ),
        (
            "msg_id with a newline",
            {"event_name": "user_send_text", "message": {"msg_id": "ab12\n"}},
            "message.msg_id",
        ),
        (
            "text a number",
            {"event_name": "user_send_text", "message": {"msg_id": "1", "text": 5}},
            "message.text",
        ),
        (
            "attachments an object",
            {"event_name": "user_send_image", "message": {"msg_id": "1", "attachments": {}}},
            "message.attachments",
        ),
        (
            "receipt ids not ids",
            {"event_name": "user_seen_message", "message": {"msg_ids": [[]]}},
            "message.msg_ids[]",
        ),
    ],
)
def test_zalo_schema_rejects(label: str, payload: dict, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        zalo_event(payload)
    assert caught.value.field == field


def test_a_handled_zalo_event_without_its_user_is_rejected() -> None:
    with pytest.raises(Invalid):
        parse_event({"event_name": "user_send_text", "message": {"msg_id": "1"}})
    assert parse_event({"event_name": "oa_send_text", "sender": []}) is None  # never read


def test_zalo_timestamps_and_signatures_never_raise() -> None:
    assert zalo_timestamp("1718093002000") == "1718093002000"
    assert zalo_timestamp(1718093002000) == "1718093002000"
    for bad in ("\ud800", "1\n", "", " 1", 10**400, -1, True, 1.0, [], None, "1" * 17):
        assert zalo_timestamp(bad) is None
    body = b'{"a": 1}'
    headers = ("mac=\ud800", "\udcff" * 64, "mac=" + "é" * 64, "", "mac=" + "0" * 640)
    for header in (*headers, "mac=" + "0" * 64):
        assert signature_ok(header, APP_ID, body, "\ud800", OA_SECRET_KEY) is False
        assert signature_ok(header, "\udcff", body, "17", OA_SECRET_KEY) is False
    good = sign(APP_ID, body, "17", OA_SECRET_KEY)
    assert signature_ok(good, APP_ID, body, "17", OA_SECRET_KEY)
    assert not signature_ok(good + "\n", APP_ID, body + b" ", "17", OA_SECRET_KEY)


def test_finite_numbers() -> None:
    assert finite_numbers({"a": [1, 2.5, {"b": -1e300}]})
    for bad in (float("inf"), float("nan"), {"a": [json.loads("1e999")]}):
        assert not finite_numbers(bad)


# --------------------------------------------------------------------------- the routes


@pytest.fixture
def route_parts(settings: Any, db_url: str) -> tuple[Any, Any]:
    return fuzz_services(settings, db_url)


@pytest.fixture
def telegram_route(settings: Any, route_parts: tuple[Any, Any]) -> Iterator[Route]:
    tg = dataclasses.replace(
        settings.telegram,
        token="123456:schema",
        api_base_url="http://127.0.0.1:9/bot",
        webhook_url="http://127.0.0.1:9/telegram/webhook",
        webhook_secret=SECRET,
    )
    services, engine = route_parts
    with Route(services, TelegramChannel(tg, content_dir=CONTENT), engine) as route:
        yield route


@pytest.fixture
def zalo_route(route_parts: tuple[Any, Any]) -> Iterator[Route]:
    services, engine = route_parts
    zs = ZaloSettings(app_id=APP_ID, oa_secret_key=OA_SECRET_KEY, timestamp_window_seconds=300)
    channel = ZaloChannel(zs, services.sessionmaker, content_dir=CONTENT)
    with Route(services, channel, engine) as route:
        yield route


def rows(route: Route, channel: str) -> list[InboxEntry]:
    async def go() -> list[InboxEntry]:
        async with route.services.sessionmaker() as session:
            query = select(InboxEntry).where(InboxEntry.channel == channel)
            return list((await session.execute(query.order_by(InboxEntry.id))).scalars())

    return route.run(go())


def pending(route: Route, channel: str) -> list[InboxEntry]:
    async def go() -> list[InboxEntry]:
        async with route.services.sessionmaker() as session:
            return await inbox.pending(session, [channel])

    return route.run(go())


def tg_post(route: Route, body: bytes | dict, secret: str = SECRET) -> tuple[int, str]:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return route.post("/telegram/webhook", raw, {SECRET_HEADER: secret})


MALFORMED_UPDATES = [
    update(10, location={"latitude": "x", "longitude": 1}, text=5),
    update(11, text=5),
    update(12, photo=[{"file_id": "a", "width": "xx", "height": 10**9}]),
    {"update_id": 14, "callback_query": {"id": "1\n", "from": {"id": CHAT}, "data": "/x"}},
    {"update_id": 15, "message": {"chat": {"id": CHAT}, "text": TEXT, "message_id": "7"}},
    {"update_id": 16, "message": {"chat": {"id": CHAT}}, "callback_query": "x"},
]


def test_telegram_malformed_updates_are_recorded_as_rejected_and_acknowledged(
    telegram_route: Route, caplog: pytest.LogCaptureFixture
) -> None:
    route = telegram_route
    with caplog.at_level(logging.INFO):
        for payload in MALFORMED_UPDATES:
            assert tg_post(route, payload) == (200, "ok")
        again = tg_post(route, MALFORMED_UPDATES[0])  # Telegram sending one again
    assert again == (200, "ok")
    got = rows(route, "telegram")
    assert len(got) == len(MALFORMED_UPDATES)  # the redelivery found its row
    for row, payload in zip(got, MALFORMED_UPDATES, strict=True):
        assert row.message_id == inbox.rejected_key(payload)
        assert (row.status, row.sender, row.payload) == ("rejected", None, payload)
        assert row.error and str(CHAT) not in row.error and TEXT not in row.error
    assert pending(route, "telegram") == []  # never resumed
    assert route.recorder.messages == []  # no turn ran
    warnings = [r for r in caplog.records if "recorded as rejected" in r.getMessage()]
    assert len(warnings) == len(MALFORMED_UPDATES) + 1
    assert all(r.levelno == logging.WARNING for r in warnings)
    for record in caplog.records:
        assert str(CHAT) not in record.getMessage() and TEXT not in record.getMessage()


def test_telegram_bad_bodies_are_4xx_and_forgeries_403(telegram_route: Route) -> None:
    route = telegram_route
    deep = b'{"update_id": 9, "message": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    surrogate = json.dumps(update(16, text="\ud800")).encode()  # json escapes it: \ud800
    cases = [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (deep, 400),
        (surrogate, 400),
        (b'{"update_id": 17, "x": NaN}', 400),
        (b'{"update_id": 18, "x": 1e999}', 400),
        (b'{"update_id": 19, "text": "' + b"a" * (1024 * 1024) + b'"}', 413),
        (json.dumps(dict(update(), update_id=False)).encode(), 400),  # not a whole update_id
        (json.dumps(dict(update(), update_id="21")).encode(), 400),
        (json.dumps(dict(update(), update_id=2**60)).encode(), 400),
        (b'{"no": "update id at all"}', 400),
    ]
    for body, expected in cases:
        status, text = tg_post(route, body)
        assert_clean(status, text)
        assert status == expected, (body[:40], status, text)
    for secret in ("", "wrong", SECRET + "x", SECRET.upper()):
        assert tg_post(route, update(20), secret)[0] == 403
    assert rows(route, "telegram") == []


def test_telegram_storage_takes_what_the_reader_lets_through(telegram_route: Route) -> None:
    """NUL characters, huge integers, deep-but-allowed nesting: recorded on SQLite and
    PostgreSQL alike (a storage error would be a 503, which Telegram resends for a day)."""
    route = telegram_route
    nested: Any = 1
    for _ in range(14):  # 28 levels, with the update and the message 30: under the cap
        nested = {"a": [nested]}
    payloads = [
        update(30, text="a\x00b"),
        update(31, extra=10**4000, nested=nested),
        update(32, text=5, big=10**4000),  # rejected, with its huge number
        update(33, text="🙂" * 100 + "\u200b\ufeff"),
    ]
    for payload in payloads:
        assert tg_post(route, payload) == (200, "ok")
    states = {r.message_id: r.status for r in rows(route, "telegram")}
    assert {states["30"], states["31"], states["33"]} <= {"received", "done"}  # done: handled
    assert states[inbox.rejected_key(payloads[2])] == "rejected"


def zalo_post(
    route: Route, event: dict[str, Any] | bytes, *, key: str = OA_SECRET_KEY, ts: str = ""
) -> tuple[int, str]:
    """Post an event (or raw bytes, signed with `ts`) as Zalo would, signed with `key`."""
    if isinstance(event, bytes):
        body = event
    else:
        body, ts = json.dumps(event, ensure_ascii=False).encode(), str(event.get("timestamp"))
    return route.post(WEBHOOK_PATH, body, {"X-ZEvent-Signature": sign(APP_ID, body, ts, key)})


def zev(**fields: Any) -> dict[str, Any]:
    ev = {
        "app_id": APP_ID,
        "event_name": "user_send_text",
        "timestamp": str(int(time.time() * 1000)),
        "sender": {"id": "2468458835296197922"},
        "recipient": {"id": "579745863508352884"},
        "message": {"msg_id": f"m{time.time_ns()}", "text": TEXT},
    }
    ev.update(fields)
    return ev


def test_zalo_malformed_events_are_recorded_as_rejected_and_acknowledged(
    zalo_route: Route, caplog: pytest.LogCaptureFixture
) -> None:
    route = zalo_route
    malformed = [
        zev(event_name=[]),
        zev(event_name={"a": 1}),
        zev(sender={"id": {"a": 1}}),
        zev(message={"msg_id": "a" * 300, "text": TEXT}),
        zev(message={"msg_id": "1", "text": 5}),
        zev(sender=None),
    ]
    with caplog.at_level(logging.INFO):
        for ev in malformed:
            assert zalo_post(route, ev) == (200, "ok"), ev
    got = rows(route, "zalo")
    assert [r.message_id for r in got] == [inbox.rejected_key(ev) for ev in malformed]
    assert {(r.status, r.sender) for r in got} == {("rejected", None)}
    assert pending(route, "zalo") == [] and route.recorder.messages == []
    for record in caplog.records:
        assert TEXT not in record.getMessage() and "2468458835296197922" not in record.getMessage()


def test_zalo_bad_bodies_are_4xx_and_forgeries_403(zalo_route: Route) -> None:
    route = zalo_route
    now = str(int(time.time() * 1000))
    head = b'{"app_id": "' + APP_ID.encode() + b'", "timestamp": "' + now.encode() + b'", '
    cases = [
        (head + b'"x": ' + b"[" * 20000 + b"]" * 20000 + b"}", 400),  # under 64 KB, too deep
        (head + b'"x": "\\ud800"}', 400),
        (b'{"app_id": "' + APP_ID.encode() + b'", "timestamp": "\\ud800"}', 400),
        (head + b'"message": {"msg_id": "' + b"a" * 300 + b'\\ud800"}}', 400),
        (head + b'"x": "' + b"a" * 70_000 + b'"}', 413),
        (head + b'"x": 1e999}', 400),
    ]
    for body, expected in cases:
        status, text = zalo_post(route, body, ts=now)
        assert_clean(status, text)
        assert status == expected, (body[:60], status, text)
    forged = [
        zev(timestamp=10**400),
        zev(timestamp=1.5),
        zev(timestamp="1\n"),
        zev(app_id="other"),
        zev(timestamp=str(int(time.time() * 1000) - 10**7)),
    ]
    for ev in forged:
        status, text = zalo_post(route, ev)
        assert_clean(status, text)
        assert status == 403, (ev, text)
    assert zalo_post(route, zev(), key=OA_SECRET_KEY + "x")[0] == 403
    assert rows(route, "zalo") == []
    assert zalo_post(route, zev(event_name="oa_send_text"))[0] == 200  # ignored, not recorded
    assert rows(route, "zalo") == []
