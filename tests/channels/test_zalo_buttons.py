# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""Zalo OA choices as real buttons: a button template under the numbered text, whose
`oa.query.hide` buttons send their payload back as a hidden user message that the bot reads as
the button press; numbered text alone when there are too many choices or the API refuses the
template. Against the fake OA API (tests/fakes/zalo_api.py), SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot.channels.zalo import (
    BUTTON_TITLE_LIMIT,
    MAX_BUTTONS,
    QUERY_PREFIX,
    Outgoing,
    outgoing,
    parse_event,
)
from bot.messages import Button, IncomingMessage, Reply
from tests.channels.conftest_zalo import (  # noqa: F401
    ZaloBot,
    send_only,
    sessionmaker,
    zalo_api,
    zalo_bot,
)
from tests.fakes.zalo_api import FakeZaloApi, event, press

USER = "3468458835296197001"


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    attachment = message.get("attachment") or {}
    return (attachment.get("payload") or {}).get("buttons") or []


async def test_choices_go_out_as_buttons_under_the_numbered_text(zalo_bot: ZaloBot) -> None:
    await zalo_bot.post(event("follow", USER))  # the greeting and the language question
    await zalo_bot.settle()
    question = next(s for s in zalo_bot.fake.sent if buttons_of(s.message))
    assert "1. Tiếng Việt" in question.text  # typing a number still works
    buttons = buttons_of(question.message)
    assert buttons[0] == {
        "title": "Tiếng Việt",
        "type": "oa.query.hide",
        "payload": QUERY_PREFIX + "/lang vi",
    }
    assert all(b["type"] == "oa.query.hide" for b in buttons)


async def test_a_button_press_is_read_like_the_typed_choice(zalo_bot: ZaloBot) -> None:
    """Pressing "Tiếng Việt" does what typing "1" does, for another user."""
    other = "3468458835296197002"
    for user in (USER, other):
        await zalo_bot.post(event("follow", user))
    await zalo_bot.settle()
    question = next(s for s in zalo_bot.fake.sent if s.user_id == USER and buttons_of(s.message))
    before = {u: len(zalo_bot.fake.texts(u)) for u in (USER, other)}
    await zalo_bot.post(press(question, 0))
    await zalo_bot.post(event("user_send_text", other, text="1"))
    await zalo_bot.settle()
    pressed = zalo_bot.fake.texts(USER)[before[USER] :]
    typed = zalo_bot.fake.texts(other)[before[other] :]
    assert pressed and pressed == typed


async def test_more_choices_than_buttons_are_numbered_text_only(zalo_bot: ZaloBot) -> None:
    many = Reply(text="Chọn:", buttons=tuple(Button(f"Mục {i}", f"/m {i}") for i in range(6)))
    [part] = outgoing(many)
    assert part.buttons == () and part.value.endswith("6. Mục 5")
    few = Reply(text="Chọn:", buttons=tuple(Button(f"Mục {i}", f"/m {i}") for i in range(2)))
    assert len(outgoing(few)[0].buttons) == 2 <= MAX_BUTTONS
    long = Reply(text="x" * 3000, buttons=(Button("Có", "/y"),))
    parts = outgoing(long)
    assert [bool(p.buttons) for p in parts] == [False, True]  # under the last piece


async def test_a_refused_template_falls_back_to_numbered_text(
    zalo_api: FakeZaloApi, sessionmaker: Any
) -> None:
    zalo_api.refuse_buttons = True
    reply = Reply(
        text="Bạn muốn nhận thông báo?", buttons=(Button("Có", "/y"), Button("Không", "/n"))
    )
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send(USER, reply) == ("sent", None)
        assert zs.channel.buttons_refused
        assert await zs.send(USER, reply) == ("sent", None)
    texts = [s.message for s in zalo_api.sent]
    assert texts == [{"text": "Bạn muốn nhận thông báo?\n1. Có\n2. Không"}] * 2
    assert zalo_api.calls[SEND_PATH] == 3  # refused once, then plain text twice


SEND_PATH = "/v3.0/oa/message/cs"


async def test_titles_are_cut_to_the_limit(zalo_api: FakeZaloApi, sessionmaker: Any) -> None:
    label = "Hỗ trợ nhà ở cho hộ nghèo đồng bào dân tộc thiểu số " * 3
    async with send_only(zalo_api, sessionmaker) as zs:
        assert await zs.send(USER, Reply(text="Chọn:", buttons=(Button(label, "/h"),))) == (
            "sent",
            None,
        )
    [button] = buttons_of(zalo_api.sent[0].message)
    assert button["title"] == label[:BUTTON_TITLE_LIMIT]


def test_only_a_marked_hidden_message_is_a_button_press() -> None:
    def parsed(text: str) -> IncomingMessage:
        msg = parse_event(event("user_send_text", USER, text=text))
        assert isinstance(msg, IncomingMessage)
        return msg

    assert parsed(QUERY_PREFIX + "/lang vi").payload == "/lang vi"
    assert parsed(QUERY_PREFIX + "/lang vi").text == ""
    for typed in ("/lang vi", "1", QUERY_PREFIX, QUERY_PREFIX + "x" * 65, "#ls /lang vi"):
        assert parsed(typed).payload is None and parsed(typed).text == typed
    assert Outgoing("text", "x").buttons == ()
