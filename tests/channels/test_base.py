"""The text splitter every channel shares (bot/channels/base.py)."""

from __future__ import annotations

from bot.channels.base import split_text


def test_a_text_without_line_breaks_is_cut_at_sentence_ends() -> None:
    sentence = "Hộ nghèo được hỗ trợ làm nhà ở theo Quyết định 1719. "
    text = (sentence * 110).strip()
    parts = split_text(text, 2000)
    assert len(parts) > 1
    assert all(len(p) <= 2000 and p.endswith(".") for p in parts)
    assert " ".join(parts) == text


def test_a_question_mark_or_exclamation_ends_a_sentence_too() -> None:
    parts = split_text("Có được không? " * 30 + "Được!", 100)
    assert all(p.endswith(("?", "!")) for p in parts)


def test_paragraphs_come_before_sentences_and_words() -> None:
    text = "Một câu. Hai câu. " * 5 + "\n\n" + "Ba bốn năm " * 10
    first = split_text(text, 120)[0]
    assert first == ("Một câu. Hai câu. " * 5).strip()


def test_hard_cut_only_without_any_space() -> None:
    assert split_text("a" * 10, 4) == ["aaaa", "aaaa", "aa"]
    assert split_text("   ", 10) == []
