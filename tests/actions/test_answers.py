"""Answers from content: by NLU, by a topic button, the topic menu, the fallback, questions no
item covers (content gaps) and follow-ups."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.app import build_pipeline, build_services
from bot.core import followup
from bot.storage.repositories import gaps
from nlu.engine import Candidate, NluResult
from tests.actions.conftest import SCRIPT
from tests.conftest import all_text, message
from tests.fakes.nlu import FakeNlu


def payloads(turn) -> list[str]:
    return [b.payload for r in turn.replies for b in r.buttons]


async def test_a_question_gets_its_item_with_the_source(pipeline):
    turn = await pipeline.handle(message("hỗ trợ làm nhà", lang="vi"))
    assert (turn.intent, turn.answer_id) == ("ask_policy", "support.housing")
    assert "Nguồn:" in all_text(turn)


async def test_understood_without_an_item_falls_back(pipeline):
    turn = await pipeline.handle(message("sản phẩm gì đó", lang="vi"))
    assert turn.intent == "ask_product" and turn.answer_id is None
    assert "Xin lỗi, tôi chưa hiểu ý bạn." in all_text(turn)


async def test_not_understood_offers_a_person(pipeline):
    turn = await pipeline.handle(message("qwzx", lang="vi"))
    assert turn.answer_id is None and payloads(turn) == ["/human"]
    assert "Bạn thử hỏi cách khác, hoặc gặp cán bộ." in all_text(turn)


async def test_a_topic_button_answers_under_the_items_intent(pipeline):
    turn = await pipeline.handle(message(payload="/answer training.schedule", lang="vi"))
    assert (turn.intent, turn.answer_id) == ("ask_training", "training.schedule")
    assert "/subscribe" in payloads(turn)
    gone = await pipeline.handle(message(payload="/answer no.such.item", lang="vi"))
    assert gone.answer_id is None and "Tôi có thể giúp bạn:" in all_text(gone)


async def test_the_topic_menu_lists_an_intents_items(pipeline):
    turn = await pipeline.handle(message(payload="/topic ask_product", lang="vi"))
    assert turn.intent == "ask_product"
    assert payloads(turn) and all(p.startswith("/answer product.") for p in payloads(turn))
    empty = await pipeline.handle(message(payload="/topic nothing", lang="vi"))
    assert empty.intent == "help" and "Tôi có thể giúp bạn:" in all_text(empty)


async def test_a_language_button_or_a_named_language_switches(pipeline):
    chose = await pipeline.handle(message(payload="/lang cua", sender="l1"))
    assert chose.lang == "cua"
    named = await pipeline.handle(message("tôi muốn nói tiếng hrê", sender="l2"))
    assert named.intent == "set_language" and named.lang == "hre"
    asked = await pipeline.handle(message("/language", sender="l3"))
    assert [b.payload for r in asked.replies for b in r.buttons][:1] == ["/lang vi"]


# -- questions no item covers (content gaps), follow-ups -----------------------------------------

GAP = NluResult(
    intent="ask_policy",
    confidence=0.9,
    candidates=(Candidate("support.housing", 0.3), Candidate("support.water", 0.2)),
    answer_id=None,
    low_confidence=True,
    normalized="hỗ trợ mua máy cày gọi 0905 123 456",
    gap=True,
)


@pytest.fixture
def gap_pipeline(services):
    nlu = FakeNlu({"hỗ trợ mua máy cày gọi 0905 123 456": GAP})
    return build_pipeline(dataclasses.replace(services, nlu=nlu))


async def test_a_question_no_item_covers_says_so_and_is_counted(gap_pipeline, services):
    turn = await gap_pipeline.handle(
        message("hỗ trợ mua máy cày gọi 0905 123 456", sender="g1", lang="vi")
    )
    text = all_text(turn)
    assert turn.answer_id is None and "chưa có thông tin" in text
    assert "40 triệu" not in text  # never the closest item's facts
    assert payloads(turn) == ["/answer support.housing", "/answer support.water", "/human"]
    assert "UBND xã" in text  # the contact (no hotline set): a person to ask
    await gap_pipeline.handle(
        message("hỗ trợ mua máy cày gọi 0905 123 456", sender="g2", lang="vi")
    )
    async with services.sessionmaker() as s:
        found = await gaps.top(s)
    assert [(g.question, g.count, g.lang, g.channel) for g in found] == [
        ("hỗ trợ mua máy cày gọi #", 2, "vi", "web")
    ]
    assert found[0].closest == ["support.housing", "support.water"]


async def test_not_understood_is_not_a_content_gap(pipeline, services):
    await pipeline.handle(message("qwzx", lang="vi"))
    async with services.sessionmaker() as s:
        assert await gaps.top(s) == []


async def test_a_follow_up_is_parsed_against_the_last_answer(pipeline, nlu):
    await pipeline.handle(message("hỗ trợ làm nhà", sender="f1", lang="vi"))
    await pipeline.handle(message("bao nhiêu", sender="f1", lang="vi"))
    await pipeline.handle(message("bao nhiêu", sender="f2", lang="vi"))  # another user
    assert nlu.previous == [None, "support.housing", None]


async def test_a_follow_up_is_only_read_within_a_few_messages(pipeline, nlu):
    await pipeline.handle(message("hỗ trợ làm nhà", sender="f3", lang="vi"))
    for _ in range(followup.MAX_TURNS + 1):
        await pipeline.handle(message("ừ", sender="f3", lang="vi"))
    assert nlu.previous[1 : followup.MAX_TURNS + 1] == ["support.housing"] * followup.MAX_TURNS
    assert nlu.previous[-1] is None


async def test_the_last_answer_survives_a_restart(pipeline, settings, db_url):
    await pipeline.handle(message("hỗ trợ làm nhà", sender="f4", lang="vi"))
    again, engine = await asyncio.to_thread(build_services, settings, db_url)  # a new process
    try:
        nlu = FakeNlu(SCRIPT)
        restarted = build_pipeline(dataclasses.replace(again, nlu=nlu))
        await restarted.handle(message("bao nhiêu", sender="f4", lang="vi"))
    finally:
        await engine.dispose()
    assert nlu.previous == ["support.housing"]


async def test_the_policy_menu_shows_what_villagers_ask_most(pipeline):
    turn = await pipeline.handle(message(payload="/topic ask_policy", lang="vi"))
    shown = payloads(turn)
    assert shown[:6] == [
        "/answer support.housing",
        "/answer support.water",
        "/answer social.health_insurance",
        "/answer education.boarding_pupils",
        "/answer support.loans",
        "/answer support.how_to_apply",
    ]
    assert shown[-1] == "/topic ask_policy more"
    more = payloads(await pipeline.handle(message(payload="/topic ask_policy more", lang="vi")))
    assert "/answer programme.overview" in more and "/answer support.housing" not in more
    assert len(more) == 11 and more[-1] == "/topic ask_policy more 2"
    seen = set(more[:-1]) | set(shown[:-1])
    while more[-1].startswith("/topic"):  # every policy topic is reachable, page by page
        more = payloads(await pipeline.handle(message(payload=more[-1], lang="vi")))
        seen |= {p for p in more if p.startswith("/answer")}
    items = pipeline.services.content.items
    assert seen == {f"/answer {i.id}" for i in items if i.intent == "ask_policy"}


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("goi cho toi 0905 123 456 nhe", "goi cho toi # nhe"),
        ("sdt 090.512.3456 hoac +84905123456", "sdt # hoac #"),
        ("mail toi la a.b@gmail.com", "mail toi la #"),
        ("ho tro 40 trieu nam 2025", "ho tro 40 trieu nam 2025"),  # amounts and years stay
    ],
)
def test_a_gaps_question_loses_phone_numbers_and_addresses(typed: str, kept: str) -> None:
    assert gaps.scrub(typed) == kept
