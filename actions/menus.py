"""Buttons offered in several places: the main menu and the language choice."""

from __future__ import annotations

from bot.core.context import Context
from bot.i18n import LANGUAGES
from bot.messages import Button


def language_buttons() -> list[Button]:
    # Language names are shown in their own form, never translated.
    return [Button(name, f"/lang {code}") for code, name in LANGUAGES.items()]


def main_menu(ctx: Context) -> list[Button]:
    _ = ctx._
    return [
        Button(_("Hỏi chính sách hỗ trợ"), "/topic ask_policy"),
        Button(_("Sản phẩm địa phương"), "/topic ask_product"),
        Button(_("Nhận thông báo"), "/subscribe"),
        Button(_("Gửi phản ánh"), "/phananh"),
        Button(_("Gặp cán bộ"), "/human"),
        Button(_("Đổi ngôn ngữ"), "/language"),
    ]
