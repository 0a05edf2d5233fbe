"""The whole pipeline on SQLite and PostgreSQL: first contact, language, questions, consent,
data."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.storage.models import Consent, InboxEntry, Subscription, User
from tests.conftest import all_text, message


async def count(services, model, *where) -> int:
    async with services.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_first_contact_offers_the_four_languages(pipeline):
    turn = await pipeline.handle(message("/start", sender="new"))
    payloads = [b.payload for r in turn.replies for b in r.buttons]
    assert payloads == ["/lang vi", "/lang hre", "/lang cua", "/lang sed"]
    labels = [b.label for r in turn.replies for b in r.buttons]
    assert labels == ["Tiếng Việt", "Hrê", "Cor", "Ca Dong"]


async def test_greeting_first_time_asks_language_then_menu(pipeline):
    first = await pipeline.handle(message("xin chào", sender="g1"))
    assert first.intent == "greet"
    assert any(b.payload == "/lang hre" for r in first.replies for b in r.buttons)
    chosen = await pipeline.handle(message(payload="/lang vi", sender="g1"))
    assert chosen.lang == "vi"
    again = await pipeline.handle(message("chào bạn", sender="g1"))
    assert not any(b.payload.startswith("/lang ") for r in again.replies for b in r.buttons)


async def test_question_gets_answer_with_source_without_personal_data(pipeline, services):
    turn = await pipeline.handle(
        message("hỗ trợ làm nhà ở cho hộ nghèo được mấy triệu", sender="q1", lang="vi")
    )
    assert turn.intent == "ask_policy"
    text = all_text(turn)
    assert "40 triệu" in text
    assert "Nguồn:" in text
    # Asking needs no consent, and stores no language or name.
    async with services.sessionmaker() as s:
        user = (await s.execute(select(User).where(User.external_id == "q1"))).scalar_one()
    assert user.locale is None and user.display_name is None and user.phone is None
    assert await count(services, Consent) == 0


async def test_numbered_options_pick_a_button(pipeline):
    await pipeline.handle(message("/start", sender="n1"))
    turn = await pipeline.handle(message("2", sender="n1"))  # 2 = Hrê
    assert turn.intent == "set_language"
    assert turn.lang == "hre"


async def test_subscribe_asks_consent_once_and_records_it(pipeline, services):
    ask = await pipeline.handle(message("/subscribe", sender="s1", lang="vi"))
    text = all_text(ask)
    assert "Bạn có đồng ý không?" in text and "/dulieu" in text
    assert await count(services, Subscription) == 0  # nothing stored before consent
    yes = await pipeline.handle(message(payload="/consent yes", sender="s1", lang="vi"))
    assert "Đã đăng ký" in all_text(yes)
    async with services.sessionmaker() as s:
        consent = (await s.execute(select(Consent))).scalar_one()
        user = (await s.execute(select(User).where(User.external_id == "s1"))).scalar_one()
    assert (consent.purpose, consent.channel, consent.notice_version) == ("notices", "web", 1)
    assert consent.given_at is not None
    assert user.locale == "vi"  # kept only now that they consented
    assert await count(services, Subscription, Subscription.active.is_(True)) == 1
    # A second time: no second notice, one subscription per user and channel.
    again = await pipeline.handle(message("/subscribe", sender="s1", lang="vi"))
    assert "đã đăng ký" in all_text(again).lower()
    assert await count(services, Consent) == 1
    assert await count(services, Subscription) == 1
    stop = await pipeline.handle(message("/stop", sender="s1", lang="vi"))
    assert "ngừng" in all_text(stop)
    assert await count(services, Subscription, Subscription.active.is_(True)) == 0


async def test_declining_consent_stores_nothing(pipeline, services):
    await pipeline.handle(message("/subscribe", sender="d1", lang="vi"))
    no = await pipeline.handle(message("không", sender="d1", lang="vi"))
    assert "không lưu" in all_text(no).lower()
    assert await count(services, Consent) == 0
    assert await count(services, Subscription) == 0


async def test_my_data_shows_and_deletes_everything(pipeline, services):
    await pipeline.handle(message("/subscribe", sender="p1", lang="hre"))
    await pipeline.handle(message(payload="/consent yes", sender="p1", lang="hre"))
    shown = await pipeline.handle(message("/dulieu", sender="p1", lang="hre"))
    text = all_text(shown)
    assert "Hrê" in text and "Nhận thông báo: có" in text
    confirm = await pipeline.handle(message("/xoadulieu", sender="p1"))
    assert any(b.payload == "/delete yes" for r in confirm.replies for b in r.buttons)
    done = await pipeline.handle(message(payload="/delete yes", sender="p1"))
    assert "Đã xóa" in all_text(done)
    assert await count(services, User, User.external_id == "p1") == 0
    assert await count(services, Consent) == 0
    assert await count(services, Subscription) == 0


async def test_duplicate_message_is_answered_once(pipeline, services):
    first = await pipeline.handle(message("xin chào", sender="r1", message_id="same-id-1"))
    second = await pipeline.handle(message("xin chào", sender="r1", message_id="same-id-1"))
    assert first.replies and not first.duplicate
    assert second.duplicate and not second.replies
    assert (
        await count(
            services, InboxEntry, InboxEntry.message_id == "same-id-1", InboxEntry.status == "done"
        )
        == 1
    )


async def test_concurrent_copies_of_one_message_are_answered_once(pipeline):
    turns = await asyncio.gather(
        *[
            pipeline.handle(message("cảm ơn", sender="c1", message_id="dup-concurrent"))
            for _ in range(4)
        ]
    )
    assert sum(1 for t in turns if not t.duplicate) == 1


async def test_flood_limit_tells_once_then_stays_quiet(pipeline, services, monkeypatch):
    from bot.core import middlewares

    monkeypatch.setattr(middlewares, "clock", lambda: 1000.0)  # a burst: no time passes
    limit = services.settings.limits.flood_messages
    turns = [
        await pipeline.handle(message("cảm ơn", sender="f1", lang="vi")) for _ in range(limit + 3)
    ]
    assert all(t.intent == "thank" for t in turns[:limit])
    assert "nhanh quá" in all_text(turns[limit])
    assert all(not t.replies for t in turns[limit + 1 :])


async def test_out_of_scope_gets_no_policy_answer(pipeline):
    turn = await pipeline.handle(
        message("cho tôi xem kết quả trận bóng đá tối qua", sender="o1", lang="vi")
    )
    assert turn.intent == "out_of_scope"
    assert turn.answer_id is None
    assert "không giúp được" in all_text(turn)


async def test_gibberish_falls_back_with_choices_and_a_person(pipeline):
    turn = await pipeline.handle(message("qwzx plorb vnnnkk", sender="x1", lang="vi"))
    assert turn.answer_id is None
    payloads = [b.payload for r in turn.replies for b in r.buttons]
    assert "/human" in payloads


async def test_minority_language_falls_back_to_vietnamese_and_says_so_once(pipeline):
    first = await pipeline.handle(
        message("ho tro nuoc sinh hoat bao nhieu tien", sender="h1", lang="hre")
    )
    assert "3 triệu" in all_text(first)
    assert "Chưa có bản tiếng Hrê" in all_text(first)
    second = await pipeline.handle(message("ho tro lam nha bao nhieu", sender="h1", lang="hre"))
    assert "Chưa có bản tiếng Hrê" not in all_text(second)


async def test_request_for_a_person_gives_contact(pipeline):
    turn = await pipeline.handle(
        message("cho tôi nói chuyện với cán bộ xã", sender="hp", lang="vi")
    )
    assert turn.intent == "human"
    assert "UBND xã" in all_text(turn)


async def test_empty_and_media_only_messages_get_a_clear_answer(pipeline):
    from bot.messages import Location

    turn = await pipeline.handle(
        message("", sender="e1", lang="vi", location=Location(15.1, 108.8))
    )
    assert "/phananh" in all_text(turn)
