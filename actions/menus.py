"""Buttons offered in several places: the main menu, the language choice, and which topics a
topic menu shows first (`content/menus.yml`, data the province edits)."""

from __future__ import annotations

from pathlib import Path

import yaml

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


MENUS_FILE = "menus.yml"
_MENUS: dict[tuple[str, int], dict] = {}


def featured(content_root: Path, intent: str, known: set[str]) -> list[str]:
    """The item ids `content/menus.yml` lists first for `intent` (ids not in `known` skipped),
    read once per version of the file."""
    path = Path(content_root) / MENUS_FILE
    try:
        stamp = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return []
    if stamp not in _MENUS:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}
        _MENUS.clear()
        _MENUS[stamp] = data if isinstance(data, dict) else {}
    ids = _MENUS[stamp].get(intent) or []
    return [str(i) for i in ids if str(i) in known] if isinstance(ids, list) else []
