"""The engine the dialogue calls: intent + retrieval joined into one NluResult."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from bot.content import Content
from nlu.engine import BuiltinEngine, Candidate, ModelError, NluResult
from nlu.model import IntentModel
from nlu.normalize import Normalizer
from nlu.retrieval import Retriever

from .conftest import TABLES


def test_result_shape(engine: BuiltinEngine) -> None:
    r = engine.parse_sync("dự án 9 là gì")
    assert isinstance(r, NluResult)
    assert dataclasses.is_dataclass(r) and r.__dataclass_params__.frozen
    assert (r.intent, r.answer_id, r.low_confidence) == ("ask_policy", "policy.project_9", False)
    assert 0.0 <= r.confidence <= 1.0
    assert 1 <= len(r.candidates) <= 5 and all(isinstance(c, Candidate) for c in r.candidates)
    assert r.candidates[0] == Candidate("policy.project_9", r.candidates[0].score)
    assert [c.score for c in r.candidates] == sorted((c.score for c in r.candidates), reverse=True)
    assert r.normalized == "dự án 9 là gì"


async def test_async_parse_matches_sync(engine: BuiltinEngine) -> None:
    assert await engine.parse("du an 1 la gi", "hre") == engine.parse_sync("du an 1 la gi", "hre")


@pytest.mark.parametrize(
    ("text", "intent", "answer"),
    [
        ("hỗ trợ làm nhà bao nhiêu tiền", "ask_policy", "policy.housing"),
        ("ho tro lam nha bn tien", "ask_policy", "policy.housing"),
        ("dự án một hỗ trợ chi rứa", "ask_policy", "policy.project_1"),
        ("du an 10", "ask_policy", "policy.project_10"),
        (
            "quế trà bồng",
            "ask_product",
            "product.cinnamon",
        ),  # retrieval speaks for the product intent
        ("xin chào", "greet", None),
        ("cảm ơn nhiều", "thank", None),
    ],
)
def test_intent_and_answer(
    engine: BuiltinEngine, text: str, intent: str, answer: str | None
) -> None:
    r = engine.parse_sync(text)
    assert (r.intent, r.answer_id) == (intent, answer)
    assert not r.low_confidence


@pytest.mark.parametrize("text", ["asdfgh qwerty", "zxcv", "ồ ạ ẹ ọ ụ ỵ", "🙂🙂", "", "   "])
def test_gibberish_is_low_confidence(engine: BuiltinEngine, text: str) -> None:
    r = engine.parse_sync(text)
    assert r.low_confidence
    assert r.answer_id is None


@pytest.mark.parametrize(
    "text",
    [
        "giá xăng hôm nay bao nhiêu",
        "hát một bài đi",
        "đội nào vô địch",
        "công thức nấu phở",
        "hát cho tôi nghe bài khác",
    ],
)
def test_out_of_scope_gets_no_answer(engine: BuiltinEngine, text: str) -> None:
    r = engine.parse_sync(text)
    assert r.intent == "out_of_scope"
    assert r.answer_id is None


class _Always:
    """A stand-in classifier sure of one intent, to test the rules that join it with retrieval."""

    def __init__(self, model: IntentModel, intent: str, p: float) -> None:
        self.model, self.intent, self.p = model, intent, p
        self.normalizer = model.normalizer

    def predict_norm(self, norm):
        pred = self.model.predict_norm(norm)
        rest = (1 - self.p) / (len(self.model.labels) - 1)
        ranking = (
            (self.intent, self.p),
            *((n, rest) for n in self.model.labels if n != self.intent),
        )
        return dataclasses.replace(pred, intent=self.intent, confidence=self.p, ranking=ranking)


def _engine_with(engine: BuiltinEngine, intent: str, p: float) -> BuiltinEngine:
    return BuiltinEngine(_Always(engine.model, intent, p), engine.retriever)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["dự án 9 là gì", "quế trà bồng", "hỗ trợ làm nhà bao nhiêu tiền"])
def test_confident_out_of_scope_never_carries_an_answer(engine: BuiltinEngine, text: str) -> None:
    r = _engine_with(engine, "out_of_scope", 0.9).parse_sync(text)
    assert r.intent == "out_of_scope"
    assert r.answer_id is None
    assert r.candidates  # the close items are still offered


def test_strong_match_overrules_an_unsure_classifier(engine: BuiltinEngine) -> None:
    r = _engine_with(engine, "out_of_scope", 0.4).parse_sync("quế trà bồng")
    assert (r.intent, r.answer_id) == ("ask_product", "product.cinnamon")


def test_answer_only_from_the_intents_items(engine: BuiltinEngine) -> None:
    r = _engine_with(engine, "ask_policy", 0.95).parse_sync("quế trà bồng")
    assert r.intent == "ask_policy"
    assert r.answer_id is None or r.answer_id.startswith("policy.")
    r = _engine_with(engine, "greet", 0.95).parse_sync("dự án 9 là gì")
    assert (r.intent, r.answer_id) == ("greet", None)


def test_policy_question_without_a_matching_item_is_low_confidence(engine: BuiltinEngine) -> None:
    r = _engine_with(engine, "ask_policy", 0.95).parse_sync(
        "trợ cấp mua trâu giống cho xã vùng cao"
    )
    assert r.answer_id is None
    assert r.low_confidence


def test_thresholds_are_respected(model_path: Path, content: Content) -> None:
    strict = BuiltinEngine.load(
        model_path, content.items, tables_dir=TABLES, answer_threshold=0.99, strong_threshold=0.99
    )
    r = strict.parse_sync("nhà bị dột có được hỗ trợ gì không")
    assert r.answer_id is None
    unsure = BuiltinEngine.load(
        model_path, content.items, tables_dir=TABLES, intent_threshold=0.999
    )
    assert unsure.parse_sync("chào bạn nhé").low_confidence


def test_missing_model_says_how_to_train(tmp_path: Path, content: Content) -> None:
    with pytest.raises(ModelError, match=r"python -m bot nlu train"):
        BuiltinEngine.load(tmp_path / "var" / "nlu" / "model.npz", content.items)


def test_changed_tables_warn_to_retrain(
    model_path: Path, content: Content, tmp_path: Path, caplog
) -> None:
    (tmp_path / "abbreviations.yml").write_text("abbreviations: {ko: không}\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="nlu.engine"):
        BuiltinEngine.load(model_path, content.items, tables_dir=tmp_path)
    assert "retrain" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nlu.engine"):
        BuiltinEngine.load(model_path, content.items, tables_dir=TABLES)
    assert "retrain" not in caplog.text


def test_engine_runs_on_content_changed_after_training(model_path: Path, content: Content) -> None:
    model = IntentModel.load(model_path, Normalizer.from_tables(TABLES))
    rows = [
        (
            "policy.buffalo",
            "ask_policy",
            ["hỗ trợ mua trâu giống", "trâu giống được giúp bao nhiêu"],
            ["trâu giống"],
            "",
        )
    ]
    r = BuiltinEngine(model, Retriever(rows, model.normalizer)).parse_sync(
        "nhà nước hỗ trợ mua trâu giống không"
    )
    assert r.answer_id == "policy.buffalo"
    assert np.isfinite(r.confidence)
