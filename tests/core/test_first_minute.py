"""A new user's first minute (issue 9): what they see in the first few messages."""

from __future__ import annotations

from tests.conftest import all_text, message

UNTRANSLATED = "Chưa có bản tiếng Hrê"


async def test_untranslated_is_said_once_from_choosing_the_language_on(pipeline):
    await pipeline.handle(message("/start", sender="hre1"))
    chosen = await pipeline.handle(message("/lang hre", sender="hre1"))
    first = await pipeline.handle(message("ho tro nuoc sinh hoat bao nhieu tien", sender="hre1"))
    second = await pipeline.handle(message("ho tro lam nha bao nhieu", sender="hre1"))
    said = [all_text(t).count(UNTRANSLATED) for t in (chosen, first, second)]
    assert sum(said) == 1, said
    assert said[0] == 1  # where it matters: when the language is chosen


async def test_untranslated_is_said_once_on_the_first_answer_without_a_choice(pipeline):
    first = await pipeline.handle(message("ho tro lam nha bao nhieu", sender="hre2", lang="hre"))
    again = await pipeline.handle(message("ho tro nuoc sinh hoat", sender="hre2", lang="hre"))
    assert UNTRANSLATED in all_text(first)
    assert UNTRANSLATED not in all_text(again)


async def test_untranslated_told_before_consent_is_not_stored_on_the_user(pipeline, services):
    """The language can tell someone's ethnicity: before consent it stays in session memory."""
    from sqlalchemy import select

    from bot.storage.models import User

    await pipeline.handle(message("/lang hre", sender="hre3"))
    await pipeline.handle(message("ho tro lam nha bao nhieu", sender="hre3"))
    async with services.sessionmaker() as session:
        state = (
            await session.execute(select(User.state).where(User.external_id == "hre3"))
        ).scalar_one()
    assert "hre" not in repr(state)


async def test_a_number_outside_the_options_says_which_are_valid(pipeline):
    start = await pipeline.handle(message("/start", sender="num1"))
    offered = sum(len(r.buttons) for r in start.replies[-1:])
    assert offered >= 2
    turn = await pipeline.handle(message("9", sender="num1"))
    text = all_text(turn)
    assert f"1 đến {offered}" in text, text
    assert f"1 đến {offered}" in all_text(await pipeline.handle(message("9", sender="num1")))
    # The choice still stands: a valid number now picks it.
    again = await pipeline.handle(message("2", sender="num1"))
    assert again.intent == "set_language"


async def test_a_number_with_no_options_is_not_a_choice(pipeline):
    turn = await pipeline.handle(message("/dulieu", sender="num2", lang="vi"))
    assert not any(r.buttons for r in turn.replies[1:])  # the export files bring no buttons
    turn = await pipeline.handle(message("99", sender="num2", lang="vi"))
    assert "1 đến" not in all_text(turn)


async def test_a_number_outside_a_yes_no_question_keeps_the_question(pipeline):
    await pipeline.handle(message("/subscribe", sender="num3", lang="vi"))
    turn = await pipeline.handle(message("3", sender="num3", lang="vi"))
    assert "1 đến 2" in all_text(turn)
    agreed = await pipeline.handle(message("1", sender="num3", lang="vi"))
    assert "Đã đăng ký" in all_text(agreed), all_text(agreed)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_message_a_second_for_a_minute_is_all_answered(pipeline, monkeypatch):
    from bot.core import middlewares

    clock = FakeClock()
    monkeypatch.setattr(middlewares, "clock", clock)
    turns = []
    for _ in range(60):
        turns.append(await pipeline.handle(message("cảm ơn", sender="fl1", lang="vi")))
        clock.now += 1.0
    assert [t.intent for t in turns] == ["thank"] * 60


async def test_a_burst_is_throttled_told_once_with_when_to_try_again(
    pipeline, services, monkeypatch
):
    from bot.core import middlewares

    clock = FakeClock()
    monkeypatch.setattr(middlewares, "clock", clock)
    burst = services.settings.limits.flood_messages
    turns = [
        await pipeline.handle(message("cảm ơn", sender="fl2", lang="vi")) for _ in range(burst + 4)
    ]
    assert all(t.intent == "thank" for t in turns[:burst])
    told = all_text(turns[burst])
    assert "nhanh quá" in told and "1 giây" in told, told
    assert all(not t.replies for t in turns[burst + 1 :])  # told once, not once a message
    clock.now += 1.0  # one message's worth back
    assert (await pipeline.handle(message("cảm ơn", sender="fl2", lang="vi"))).intent == "thank"
    # A second burst is told again, with the wait it needs.
    again = await pipeline.handle(message("cảm ơn", sender="fl2", lang="vi"))
    assert "nhanh quá" in all_text(again)
    clock.now += 30.0  # a pause refills the bucket: a full burst again
    turns = [
        await pipeline.handle(message("cảm ơn", sender="fl2", lang="vi")) for _ in range(burst)
    ]
    assert all(t.intent == "thank" for t in turns)


async def test_after_deleting_my_data_nothing_is_said_to_be_kept(pipeline):
    await pipeline.handle(message("/subscribe", sender="del1", lang="vi"))
    await pipeline.handle(message("đồng ý", sender="del1", lang="vi"))
    kept = await pipeline.handle(message("/dulieu", sender="del1", lang="vi"))
    assert "Mã tài khoản" in all_text(kept) and any(r.document for r in kept.replies)
    await pipeline.handle(message("/xoadulieu", sender="del1", lang="vi"))
    await pipeline.handle(message("có", sender="del1", lang="vi"))
    turn = await pipeline.handle(message("/dulieu", sender="del1", lang="vi"))
    text = all_text(turn)
    assert "không lưu dữ liệu nào" in text, text
    assert "Mã tài khoản" not in text and "Nhận thông báo" not in text
    assert not any(r.document for r in turn.replies)  # no file of nothing
