"""The consent flow: notice, yes or no, then the intent that asked for consent runs again."""

from __future__ import annotations

import pytest

from bot.storage.models import Consent, Subscription
from tests.conftest import all_text, message

NOTICE_END = "Bạn có đồng ý không?"


def payloads(turn) -> list[str]:
    return [b.payload for r in turn.replies for b in r.buttons]


@pytest.mark.parametrize(
    "answer",
    [
        message("đồng ý"),
        message("Dong y!"),
        message("1"),
        message("Đồng ý", payload="/consent yes"),
    ],
    ids=["typed", "typed-without-diacritics", "numbered", "button"],
)
async def test_agreeing_resumes_the_intent_that_asked(pipeline, count, user_row, answer):
    ask = await pipeline.handle(message("/subscribe", sender=answer.sender_id, lang="vi"))
    assert ask.replies[-1].text.endswith(NOTICE_END)
    assert payloads(ask) == ["/consent yes", "/consent no"]
    assert (await user_row(answer.sender_id)).state["flow"] == {
        "name": "consent",
        "step": "notice",
        "data": {"purpose": "notices", "resume": "subscribe"},
    }
    turn = await pipeline.handle(answer)
    text = all_text(turn)
    assert "Cảm ơn bạn. Tôi đã ghi nhận sự đồng ý của bạn." in text
    assert "Đã đăng ký" in text  # subscribe ran again, by name, and found the consent
    assert turn.intent == "subscribe"
    assert await count(Consent, Consent.purpose == "notices") == 1
    assert await count(Subscription, Subscription.active.is_(True)) == 1
    # The consent flow is over; subscribing goes on to ask the area (then the topics).
    assert (await user_row(answer.sender_id)).state["flow"]["name"] == "subscription"


async def test_feedback_is_resumed_after_consent(pipeline, count):
    ask = await pipeline.handle(message("/phananh", sender="fb"))
    assert "nhận và trả lời phản ánh của bạn" in all_text(ask)
    turn = await pipeline.handle(message(payload="/consent yes", sender="fb"))
    assert "Bạn muốn phản ánh về việc gì?" in all_text(turn)  # the feedback form starts
    assert turn.intent == "feedback"
    assert await count(Consent, Consent.purpose == "feedback") == 1


@pytest.mark.parametrize(
    "answer",
    [
        message("không"),
        message("Ko"),
        message(payload="/consent no"),
    ],
    ids=["typed", "short", "button"],
)
async def test_declining_stores_nothing(pipeline, count, user_row, answer):
    await pipeline.handle(message("/subscribe", sender=answer.sender_id, lang="hre"))
    turn = await pipeline.handle(answer)
    assert "Tôi không lưu gì cả." in all_text(turn)
    assert await count(Consent) == 0
    assert await count(Subscription) == 0
    user = await user_row(answer.sender_id)
    assert "flow" not in user.state and user.locale is None


async def test_a_question_mid_flow_is_answered_and_the_consent_still_waits(
    pipeline, count, user_row
):
    await pipeline.handle(message("/subscribe", sender="mq"))
    turn = await pipeline.handle(message("hỗ trợ làm nhà", sender="mq"))
    assert turn.intent == "ask_policy" and turn.answer_id == "support.housing"
    assert "40 triệu" in all_text(turn)
    asked = "Bạn có đồng ý cho tôi lưu thông tin để gửi thông báo, lớp tập huấn cho bạn không?"
    assert turn.replies[-1].text == asked  # asked again, shortly, with the same buttons
    assert payloads(turn)[-2:] == ["/consent yes", "/consent no"]
    assert (await user_row("mq")).state["flow"]["name"] == "consent"
    assert await count(Consent) == 0
    again = await pipeline.handle(message("bao giờ có lớp tập huấn", sender="mq"))
    assert again.answer_id == "training.schedule"
    done = await pipeline.handle(message("2", sender="mq"))  # the re-asked buttons: 2 = no
    assert "Tôi không lưu gì cả." in all_text(done)
    assert await count(Consent) == 0


async def test_agreeing_after_a_question_mid_flow_resumes_the_intent(pipeline, count):
    await pipeline.handle(message("/subscribe", sender="mq2"))
    await pipeline.handle(message("hỗ trợ làm nhà", sender="mq2"))
    turn = await pipeline.handle(message("đồng ý", sender="mq2"))
    assert "Đã đăng ký" in all_text(turn)
    assert await count(Subscription, Subscription.active.is_(True)) == 1


async def test_another_request_mid_flow_leaves_it_and_is_a_new_message(
    pipeline, nlu, count, user_row
):
    await pipeline.handle(message("/subscribe", sender="mv"))
    asked = "cho tôi gặp cán bộ"
    moved_on = await pipeline.handle(message(asked, sender="mv"))
    assert moved_on.intent == "human" and "UBND xã" in all_text(moved_on)
    assert nlu.parsed.count((asked, "vi")) == 1  # one parse for the flow and the dialogue
    # The subscription's question is gone; what waits is the person's own (bot/handoff).
    assert (await user_row("mv")).state["flow"]["data"]["purpose"] == "handoff"
    late = await pipeline.handle(message("không", sender="mv"))
    assert "Tôi không lưu gì cả." in all_text(late)
    assert "flow" not in (await user_row("mv")).state
    old_button = await pipeline.handle(message(payload="/consent yes", sender="mv"))
    assert all_text(old_button) == "Hiện không có gì cần bạn đồng ý."
    assert await count(Consent) == 0


@pytest.mark.parametrize("typed", ["cảm ơn", "xin chào", "qwzx plorb vnnnkk"])
async def test_small_talk_or_a_message_not_understood_is_answered_and_the_consent_waits(
    pipeline, count, user_row, typed
):
    sender = f"st-{len(typed)}"
    await pipeline.handle(message("/subscribe", sender=sender, lang="vi"))
    turn = await pipeline.handle(message(typed, sender=sender, lang="vi"))
    text = all_text(turn)
    assert len(turn.replies) >= 2, text  # the message is answered, then the question again
    assert "Bạn có đồng ý cho tôi lưu thông tin để gửi thông báo" in text, text
    assert "- Lưu gì:" not in text  # not the notice word for word
    assert payloads(turn)[-2:] == ["/consent yes", "/consent no"]
    assert (await user_row(sender)).state["flow"]["name"] == "consent"
    agreed = await pipeline.handle(message("vâng", sender=sender, lang="vi"))
    assert "Đã đăng ký" in all_text(agreed)
    assert await count(Consent, Consent.purpose == "notices") == 1


async def test_the_same_request_again_gets_the_short_question_not_the_notice(pipeline, count):
    first = await pipeline.handle(message("/subscribe", sender="twice", lang="vi"))
    assert "- Lưu gì:" in all_text(first)
    for again in ("/subscribe", "tôi muốn đăng ký nhận thông báo"):
        turn = await pipeline.handle(message(again, sender="twice", lang="vi"))
        text = all_text(turn)
        assert "- Lưu gì:" not in text and "Bạn có đồng ý cho tôi lưu thông tin" in text, text
    agreed = await pipeline.handle(message("1", sender="twice", lang="vi"))
    assert "Đã đăng ký" in all_text(agreed)


async def test_consent_on_record_is_not_asked_again(pipeline, count):
    await pipeline.handle(message("/subscribe", sender="once"))
    await pipeline.handle(message(payload="/consent yes", sender="once"))
    await pipeline.handle(message("/stop", sender="once"))
    turn = await pipeline.handle(message("/dangky", sender="once"))
    assert NOTICE_END not in all_text(turn) and "Đã đăng ký" in all_text(turn)
    assert await count(Consent) == 1
