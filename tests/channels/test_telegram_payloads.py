"""Telegram payloads to IncomingMessage, and the pure parts of sending: text splitting, keyboards,
error classification, Bot API URLs. Payloads are the real-shaped captures in
tests/data/telegram/."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from telegram import Bot, Update
from telegram import error as tg_error

from bot.channels.base import split_text as split_any
from bot.channels.telegram import (
    TEXT_LIMIT,
    Part,
    api_base_url,
    classify,
    file_base_url,
    keyboard,
    keyboard_json,
    reply_parts,
    to_incoming,
    utf16_len,
    webhook_path,
)
from bot.config import TelegramSettings
from bot.messages import Button, Contact, Location, Reply

DATA = Path(__file__).resolve().parent.parent / "data" / "telegram"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """The shared splitter as Telegram uses it: UTF-16 code units."""
    return split_any(text, limit, utf16_len)


BOT = Bot("123:abc")


def load(name: str) -> Update:
    return Update.de_json(json.loads((DATA / f"{name}.json").read_text(encoding="utf-8")), BOT)


# label, payload file, expected fields (None: the update is not answered)
CASES = [
    (
        "text",
        "message_text",
        {
            "sender_id": "5512873401",
            "message_id": "815402117",
            "text": "Nhà tôi bị dột, có được hỗ trợ làm nhà không?",
            "locale_hint": None,
        },
    ),
    ("command", "message_command_start", {"text": "/start", "payload": None}),
    (
        "command with @botname in a group",
        "message_command_botname_group",
        {"sender_id": "-1002211330457", "text": "/baocao@LangSoBot"},
    ),
    (
        "button",
        "callback_query",
        {
            "sender_id": "5512873401",
            "message_id": "815402102",
            "payload": "/lang vi",
            "text": "Tiếng Việt",
        },
    ),
    (
        "photo takes the largest size, caption is the text",
        "message_photo",
        {
            "text": "Đường vào thôn bị sạt lở",
            "media_kinds": ["photo"],
            "media_refs": ["AgACAgUAAxkBAAIIw2Zo3sm0Ab1-large"],
        },
    ),
    (
        "voice",
        "message_voice",
        {"text": "", "media_kinds": ["voice"], "media_refs": ["AwACAgUAAxkBAAIIxGZo3vKq-voice"]},
    ),
    ("document", "message_document", {"media_kinds": ["document"]}),
    (
        "location",
        "message_location",
        {"location": Location(14.975912, 108.416733), "media_kinds": []},
    ),
    ("venue", "venue", {"location": Location(15.120544, 108.806017)}),
    ("contact", "message_contact", {"contact": Contact("84912345678", "Đinh Văn Hùng")}),
    ("edited message is ignored", "edited_message", None),
    ("bot blocked is not a message", "my_chat_member_kicked", None),
    ("group service message is ignored", "group_new_member", None),
]


@pytest.mark.parametrize(("label", "name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_to_incoming(label: str, name: str, expected: dict | None) -> None:
    msg = to_incoming(load(name))
    if expected is None:
        assert msg is None
        return
    assert msg is not None and msg.channel == "telegram"
    for key, value in expected.items():
        if key == "media_kinds":
            assert [m.kind for m in msg.media] == value
        elif key == "media_refs":
            assert [m.ref for m in msg.media] == value
        else:
            assert getattr(msg, key) == value, key


def test_language_code_is_not_a_locale_hint() -> None:
    # message_text says language_code "en": the phone's language, not a choice made in the bot.
    assert load("message_text").message.from_user.language_code == "en"
    assert to_incoming(load("message_text")).locale_hint is None


def test_recorded_payload_round_trips() -> None:
    """What polling records (Update.to_dict) comes back as the same IncomingMessage on resume."""
    for name in ("message_text", "callback_query", "message_photo", "message_contact"):
        update = load(name)
        again = Update.de_json(json.loads(json.dumps(update.to_dict())), BOT)
        a, b = to_incoming(update), to_incoming(again)
        assert (a.sender_id, a.message_id, a.text, a.payload, a.media, a.location, a.contact) == (
            b.sender_id,
            b.message_id,
            b.text,
            b.payload,
            b.media,
            b.location,
            b.contact,
        )


# --------------------------------------------------------------------------- splitting

WORDS = (
    "Chương trình mục tiêu quốc gia phát triển kinh tế xã hội vùng đồng bào dân tộc thiểu số"
).split()


def long_text(n_words: int, para_every: int = 0, line_every: int = 0) -> str:
    out = []
    for i in range(n_words):
        out.append(WORDS[i % len(WORDS)])
        if para_every and i % para_every == para_every - 1:
            out.append("\n\n")
        elif line_every and i % line_every == line_every - 1:
            out.append("\n")
        else:
            out.append(" ")
    return "".join(out).strip()


SPLIT_CASES = [
    ("short stays whole", "Xin chào", 4096, 1),
    ("exactly the limit", "a" * 4096, 4096, 1),
    ("paragraphs", long_text(1500, para_every=40), 4096, None),
    ("lines only", long_text(1500, line_every=12), 4096, None),
    ("spaces only", long_text(1500), 4096, None),
    ("small limit", long_text(60, para_every=7), 100, None),
]


@pytest.mark.parametrize(
    ("label", "text", "limit", "count"), SPLIT_CASES, ids=[c[0] for c in SPLIT_CASES]
)
def test_split_text(label: str, text: str, limit: int, count: int | None) -> None:
    parts = split_text(text, limit)
    if count is not None:
        assert len(parts) == count
    else:
        assert len(parts) > 1
    assert all(0 < utf16_len(p) <= limit for p in parts)
    # no word is broken and nothing is lost: the words, in order, are the same
    assert " ".join(parts).split() == text.split()
    assert all(p == p.strip() for p in parts)


def test_split_prefers_paragraphs() -> None:
    text = long_text(1500, para_every=40)
    parts = split_text(text)
    paragraphs = text.split("\n\n")
    # every part is a run of whole paragraphs
    joined = [p.split("\n\n") for p in parts]
    assert sum(joined, []) == [p.strip() for p in paragraphs]


def test_split_counts_utf16_units() -> None:
    text = ("🌾 " * 3000).strip()  # each emoji is 2 UTF-16 units
    parts = split_text(text)
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert len(parts) >= 3


def test_split_hard_cut_only_without_spaces() -> None:
    parts = split_text("x" * 5000)
    assert [len(p) for p in parts] == [4096, 904]


def test_split_keeps_combining_marks_with_their_letter() -> None:
    # decomposed Vietnamese: "ệ" as e + U+0323 + U+0302
    text = "e\u0323\u0302" * 2000
    parts = split_text(text, 4096)
    assert all(p[0] not in "\u0323\u0302" for p in parts)
    assert "".join(parts) == text


# -------------------------------------------------------------------------- keyboards, errors, URLs


def test_keyboard_one_button_per_row_with_payload_as_callback_data() -> None:
    markup = keyboard(
        Reply("Chọn", buttons=(Button("Tiếng Việt", "/lang vi"), Button("Hrê", "/lang hre")))
    )
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [
        ["/lang vi"],
        ["/lang hre"],
    ]
    assert keyboard(Reply("no buttons")) is None


def test_the_keyboards_json_is_what_ptbs_markup_sends() -> None:
    buttons = (
        Button("Tiếng Việt", "/lang vi"),
        Button("", "/help"),  # no label: the payload shows
        Button("x" * 80, "/long"),  # cut at 64
        Button("no payload", ""),  # not a button
    )
    assert keyboard_json(buttons) == keyboard(buttons).to_dict()
    assert keyboard_json(()) is None and keyboard_json((Button("a", ""),)) is None


def test_button_payload_limit() -> None:
    Button("ok", "x" * 64)
    with pytest.raises(ValueError):
        Button("too long", "ư" * 33)  # 66 bytes


# label, error, (retryable, gone, retry_after)
ERROR_CASES = [
    ("flood control", tg_error.RetryAfter(7), (True, False, 7)),
    ("flood control as timedelta", tg_error.RetryAfter(timedelta(seconds=3)), (True, False, 3)),
    ("blocked", tg_error.Forbidden("Forbidden: bot was blocked by the user"), (False, True, None)),
    (
        "bad request is final",
        tg_error.BadRequest("Bad Request: chat not found"),
        (False, False, None),
    ),
    ("timeout", tg_error.TimedOut(), (True, False, None)),
    ("5xx", tg_error.NetworkError("Bad Gateway (502)"), (True, False, None)),
    ("token", tg_error.InvalidToken(), (False, False, None)),
]


@pytest.mark.parametrize(("label", "exc", "expected"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_classify(label: str, exc: Exception, expected: tuple) -> None:
    mapped = classify(exc, token="123:abc")
    assert (mapped.retryable, mapped.gone, mapped.retry_after) == expected
    assert "123:abc" not in mapped.reason


def test_reply_parts_caption_media_and_split_text() -> None:
    buttons = (Button("Tiếp", "/help"),)
    assert reply_parts(Reply("Quế", photo="media/a.jpg", buttons=buttons)) == [
        Part("photo", "media/a.jpg", "Quế", buttons)
    ]
    long = "Giới thiệu sản phẩm. " * 80  # over the 1024-unit caption limit
    parts = reply_parts(Reply(long, photo="media/a.jpg", buttons=buttons))
    assert [(p.kind, p.caption, p.buttons) for p in parts] == [
        ("photo", None, ()),
        ("text", None, buttons),
    ]
    many = reply_parts(Reply("đoạn văn. " * 1000, buttons=buttons))
    assert len(many) > 1 and [p.buttons for p in many][-1] == buttons
    assert all(p.buttons == () for p in many[:-1])
    assert reply_parts(Reply("", buttons=buttons)) == [Part("text", "…", None, buttons)]
    assert reply_parts(Reply("")) == []


URL_CASES = [
    (
        "https://api.telegram.org/bot",
        "https://api.telegram.org/bot",
        "https://api.telegram.org/file/bot",
    ),
    ("http://localhost:8081", "http://localhost:8081/bot", "http://localhost:8081/file/bot"),
    ("http://localhost:8081/", "http://localhost:8081/bot", "http://localhost:8081/file/bot"),
    ("http://proxy/tg/bot{token}", "http://proxy/tg/bot{token}", "http://proxy/tg/file/bot{token}"),
]


@pytest.mark.parametrize(("configured", "api", "files"), URL_CASES)
def test_api_urls(configured: str, api: str, files: str) -> None:
    tg = TelegramSettings(token="1:x", api_base_url=configured)
    assert api_base_url(tg) == api
    assert file_base_url(tg) == files


def test_webhook_path_comes_from_the_url() -> None:
    assert (
        webhook_path(TelegramSettings(webhook_url="https://bot.example.vn/telegram/webhook"))
        == "/telegram/webhook"
    )
    assert webhook_path(TelegramSettings(webhook_url="https://bot.example.vn")) == "/"
