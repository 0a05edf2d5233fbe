"""FAQ retrieval over content items."""

from __future__ import annotations

import pytest

from bot.content import Content
from nlu.normalize import Normalizer
from nlu.retrieval import Retriever


@pytest.fixture(scope="module")
def retriever(content: Content, normalizer: Normalizer) -> Retriever:
    return Retriever.from_documents(content.items, normalizer)


@pytest.mark.parametrize("n", range(1, 11))
@pytest.mark.parametrize(
    "form", ["dự án {n} là gì", "du an {n}", "da{n} ho tro gi", "dự án số {n}"]
)
def test_project_numbers_pick_their_own_item(
    retriever: Retriever, normalizer: Normalizer, n: int, form: str
) -> None:
    hits = retriever.rank(normalizer(form.format(n=n)), k=3)
    assert hits[0].item_id == f"policy.project_{n}"
    assert hits[0].score > hits[1].score + 0.2  # not a near tie with project 1 or 10


def test_project_number_in_words(retriever: Retriever, normalizer: Normalizer) -> None:
    assert (
        retriever.rank(normalizer("dự án chín nói về cái chi"), 1)[0].item_id == "policy.project_9"
    )


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("quế trà bồng", "product.cinnamon"),
        ("que tra bong", "product.cinnamon"),
        ("nhà bị dột nát có được hỗ trợ", "policy.housing"),
        ("ho tro xay nha bn tien", "policy.housing"),
        ("mua bon nuoc co duoc giup khong", "policy.water"),
        ("the bhyt", "policy.insurance"),
        ("cách đổi ngôn ngữ", "help.language"),
    ],
)
def test_ranks_the_right_item_first(
    retriever: Retriever, normalizer: Normalizer, text: str, item: str
) -> None:
    assert retriever.rank(normalizer(text), 1)[0].item_id == item


def test_scores_are_in_unit_interval_and_sorted(
    retriever: Retriever, normalizer: Normalizer
) -> None:
    for text in ["quế trà bồng quế trà bồng quế", "dự án 1 dự án 1", "xin chào", "hỗ trợ"]:
        hits = retriever.rank(normalizer(text), k=len(retriever))
        scores = [h.score for h in hits]
        assert all(0.0 < s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)


def test_unrelated_text_scores_below_a_real_question(
    retriever: Retriever, normalizer: Normalizer
) -> None:
    unrelated = retriever.rank(normalizer("xem bói tình duyên"), 1)
    assert not unrelated or unrelated[0].score < 0.3
    assert retriever.rank(normalizer("hỗ trợ nước sinh hoạt"), 1)[0].score > 0.6


def test_restrict_to_intents(retriever: Retriever, normalizer: Normalizer) -> None:
    hits = retriever.rank(normalizer("quế trà bồng"), k=5, intents=["ask_policy"])
    assert hits and all(h.intent == "ask_policy" for h in hits)


def test_index_follows_the_content(normalizer: Normalizer) -> None:
    r = Retriever(
        [
            ("a.one", "ask_policy", ["hỏi về bò"], ["bò"]),
            ("a.two", "ask_policy", ["hỏi về quế"], ["quế"]),
        ],
        normalizer,
    )
    assert r.rank(normalizer("con bò"), 1)[0].item_id == "a.one"
    assert r.rank(normalizer("cây quế"), 1)[0].item_id == "a.two"
    assert Retriever([], normalizer).rank(normalizer("bò"), 5) == []


def test_shipped_content_answers_each_project_by_number() -> None:
    from pathlib import Path

    from bot.content import load_content

    root = Path(__file__).resolve().parents[2]
    normalizer = Normalizer.from_tables()
    shipped = load_content(root / "content")
    r = Retriever.from_documents(shipped.items, normalizer)
    titles = {i.id: i.title_for("vi") for i in shipped.items}
    for n in range(1, 11):
        for text in (f"dự án {n} là gì", f"du an so {n}", f"da{n}"):
            top = r.rank(normalizer(text), 1)[0]
            assert titles[top.item_id].startswith(f"Dự án {n}:"), (text, top)
