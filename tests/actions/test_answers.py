"""Answers from content: by NLU, by a topic button, the topic menu, and the fallback."""

from __future__ import annotations

from tests.conftest import all_text, message


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
