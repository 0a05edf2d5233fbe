"""The one command table (bot.core.commands) feeds the dialogue and the Telegram menu."""

from __future__ import annotations

import pytest

import actions  # noqa: F401 - registers the actions, as bot/app.py does
from bot.channels import telegram_cli
from bot.core.commands import BY_NAME, COMMANDS, telegram_menu
from bot.core.registry import REGISTRY
from tests.conftest import all_text, message

MENU = [
    "start",
    "trogiup",
    "ngonngu",
    "dangky",
    "ngung",
    "phananh",
    "baocao",
    "dulieu",
    "xoadulieu",
    "canbo",
]


def test_every_command_runs_a_registered_action_and_flows_keep_their_own():
    assert len(BY_NAME) == len(COMMANDS)
    assert all(REGISTRY.has_action(c.intent) for c in COMMANDS)
    assert not any(REGISTRY.owns(c.name) for c in COMMANDS)


def test_the_telegram_menu_is_the_tables_menu_rows():
    assert telegram_cli.COMMANDS == telegram_menu()
    assert [name for name, _ in telegram_menu()] == MENU
    assert all(description for _, description in telegram_menu())
    assert dict(telegram_menu())["xoadulieu"] == "Xóa dữ liệu của bạn"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.ends_flow], ids=lambda c: c.name)
async def test_each_command_reaches_its_intent(pipeline, command):
    turn = await pipeline.handle(message(command.name, lang="vi"))
    assert turn.intent == command.intent
    assert turn.replies


async def test_a_command_addressed_to_the_bot_in_a_group_is_understood(pipeline):
    turn = await pipeline.handle(message("/Help@langso_bot"))
    assert turn.intent == "help"


async def test_an_unknown_command_says_so(pipeline):
    turn = await pipeline.handle(message("/weather"))
    assert all_text(turn) == "Tôi không biết lệnh này. Gõ /trogiup để xem các lệnh."


async def test_a_command_ends_the_flow_but_a_button_in_passing_does_not(pipeline, services):
    await pipeline.handle(message("/subscribe", sender="c1"))
    chose = await pipeline.handle(message(payload="/lang hre", sender="c1"))
    assert chose.intent == "set_language" and chose.lang == "hre"
    still = await pipeline.handle(message(payload="/consent yes", sender="c1"))
    assert "Đã đăng ký" in all_text(still)
    await pipeline.handle(message("/baocao", sender="c2"))
    await pipeline.handle(message("/help", sender="c2"))
    gone = await pipeline.handle(message(payload="/consent yes", sender="c2"))
    assert all_text(gone) == "Hiện không có gì cần bạn đồng ý."
