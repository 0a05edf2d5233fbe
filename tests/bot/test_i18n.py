"""gettext catalogs: vi complete, hre/cua/sed falling back string by string; translators'
workflow."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from babel import Locale, UnknownLocaleError
from babel.messages.pofile import read_po, write_po

from bot import i18n

ROOT = Path(__file__).resolve().parents[2]


def test_babel_really_has_no_locale_for_the_minority_codes():
    for code in ("hre", "cua", "sed"):
        with pytest.raises((UnknownLocaleError, ValueError)):
            Locale.parse(code)


def test_dates_and_numbers_use_vietnamese_conventions_for_minority_languages():
    assert i18n.format_date(date(2026, 3, 9), "hre") == i18n.format_date(date(2026, 3, 9), "vi")
    assert i18n.format_number(1234567.5, "sed") == "1.234.567,5"


def test_vi_catalog_is_complete():
    done, total = i18n.coverage(ROOT / "content" / "locales")["vi"]
    assert total > 50 and done == total


def test_workflow_for_a_minority_language_with_string_by_string_fallback(tmp_path):
    locales = tmp_path / "content" / "locales"
    shutil.copytree(ROOT / "content" / "locales", locales)
    template = i18n.extract(ROOT)
    assert any(m.id == "Mời bạn chọn ngôn ngữ:" for m in template)
    stats = i18n.update(locales, template)
    assert stats["vi"][0] == stats["vi"][1]
    # A translator fills in one Hrê string (a test marker, not real Hrê text).
    po = i18n.po_path(locales, "hre")
    with po.open("rb") as fh:
        cat = read_po(fh, locale=None)
    cat.get("Mời bạn chọn ngôn ngữ:").string = "[hre] Mời bạn chọn ngôn ngữ"
    with po.open("wb") as fh:
        write_po(fh, cat)
    compiled = i18n.compile_catalogs(locales, tmp_path / "var" / "locales")
    assert any("hre" in str(p) for p in compiled)
    tr = i18n.Catalogs(locales, tmp_path / "var" / "locales").for_lang("hre")
    assert tr._("Mời bạn chọn ngôn ngữ:") == "[hre] Mời bạn chọn ngôn ngữ"
    assert tr.has("Mời bạn chọn ngôn ngữ:")
    # An untranslated string falls back to Vietnamese.
    assert tr._("Đã chọn ngôn ngữ: {name}.") == "Đã chọn ngôn ngữ: {name}."
    assert not tr.has("Đã chọn ngôn ngữ: {name}.")
    # update keeps the translator's work and the Language header.
    i18n.update(locales, template, ["hre"])
    text = po.read_text(encoding="utf-8")
    assert "[hre] Mời bạn chọn ngôn ngữ" in text
    assert '"Language: hre\\n"' in text
