"""`nlu.intents` is the one list of intents: the training data and the content use exactly it."""

from __future__ import annotations

from pathlib import Path

from bot.content import load_content
from nlu.intents import ANSWER_EXPECTED, ANSWER_INTENTS, INTENTS, NEVER_ANSWERED, QUESTION_INTENTS
from nlu.rasa_format import load_paths

ROOT = Path(__file__).resolve().parents[2]


def test_training_data_has_exactly_the_intents() -> None:
    data = load_paths([ROOT / "nlu" / "data"])
    assert set(data.counts()) == set(INTENTS)


def test_groups_are_made_of_intents() -> None:
    assert len(set(INTENTS)) == len(INTENTS)
    for group in (QUESTION_INTENTS, ANSWER_INTENTS, ANSWER_EXPECTED, NEVER_ANSWERED):
        assert set(group) <= set(INTENTS), group
    assert set(ANSWER_EXPECTED) <= set(QUESTION_INTENTS) <= set(ANSWER_INTENTS)
    assert not set(NEVER_ANSWERED) & set(ANSWER_INTENTS)


def test_shipped_content_answers_only_answer_intents() -> None:
    content = load_content(ROOT / "content")
    assert not content.errors, content.errors[:3]
    assert {item.intent for item in content.items} <= set(ANSWER_INTENTS)
