"""Commands are shown by their Vietnamese names (menus, help, replies, Telegram's menu); the
English names keep working."""

from __future__ import annotations

import re

import actions  # noqa: F401 - registers the actions, as bot/app.py does
from bot.core.commands import BY_NAME, telegram_menu
from tests.conftest import all_text, message

ENGLISH = {"/help", "/language", "/subscribe", "/stop", "/unsubscribe", "/human", "/cancel"}
VIETNAMESE = {"/trogiup": "help", "/ngonngu": "set_language", "/dangky": "subscribe"}
VIETNAMESE |= {"/ngung": "unsubscribe", "/canbo": "human"}


def shown_commands(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w/])/[a-z]+", text))


def test_the_telegram_menu_shows_the_vietnamese_names():
    names = {"/" + name for name, _ in telegram_menu()}
    assert set(VIETNAMESE) <= names
    assert not names & ENGLISH
    for name, intent in VIETNAMESE.items():
        assert BY_NAME[name].intent == intent


async def test_help_and_replies_show_the_vietnamese_names(pipeline):
    shown = all_text(await pipeline.handle(message("/help", sender="vc1", lang="vi")))
    assert {"/dangky", "/ngung", "/canbo", "/ngonngu", "/huy"} <= shown_commands(shown), shown
    assert not shown_commands(shown) & ENGLISH, shown
    await pipeline.handle(message("/subscribe", sender="vc1", lang="vi"))
    done = all_text(await pipeline.handle(message("đồng ý", sender="vc1", lang="vi")))
    stopped = all_text(await pipeline.handle(message("/stop", sender="vc1", lang="vi")))
    unknown = all_text(await pipeline.handle(message("/weather", sender="vc1", lang="vi")))
    for text in (done, stopped, unknown):
        assert shown_commands(text) and not shown_commands(text) & ENGLISH, text


async def test_the_vietnamese_names_run_their_intents(pipeline):
    for name, intent in VIETNAMESE.items():
        turn = await pipeline.handle(message(name, sender="vc2", lang="vi"))
        assert turn.intent == intent, name
    turn = await pipeline.handle(message("/huy", sender="vc2", lang="vi"))
    assert turn.replies  # no form open: it says so
