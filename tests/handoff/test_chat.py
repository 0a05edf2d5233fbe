"""The chat side of a handoff: consent, opening, messages stored for staff (not answered by the
NLU), acknowledgements at most once every few minutes, ending it, and staff replies and the hand
back reaching the villager as outbox rows."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.handoff import chat, staff
from bot.messages import Reply
from bot.storage.models import Consent, Handoff, User, utcnow
from bot.storage.repositories import handoff as handoff_repo
from tests.conftest import all_text, message

OPENED = "Tôi đã báo cán bộ. Một cán bộ sẽ trả lời bạn ngay trong trò chuyện này."
FORWARDED = "Đã chuyển tin nhắn cho cán bộ."
ENDED = "Đã kết thúc trò chuyện với cán bộ."


async def open_handoff(pipeline, sender: str, first: str = "/canbo", channel: str = "web"):
    ask = await pipeline.handle(message(first, sender=sender, lang="vi", channel=channel))
    assert "Bạn có đồng ý không?" in all_text(ask)
    return await pipeline.handle(
        message(payload="/consent yes", sender=sender, lang="vi", channel=channel)
    )


async def test_asking_for_a_person_gives_the_contact_asks_consent_then_opens_a_handoff(
    pipeline, db, count
):
    ask = await pipeline.handle(message("/canbo", sender="h1", lang="vi"))
    text = all_text(ask)
    assert "UBND xã" in text  # the contact needs no data
    assert "chuyển tin nhắn của bạn cho cán bộ và nhận câu trả lời" in text  # the purpose
    assert await db.handoffs() == []
    turn = await pipeline.handle(message(payload="/consent yes", sender="h1"))
    assert OPENED in all_text(turn)
    assert [b.payload for r in turn.replies for b in r.buttons] == ["/handoff end"]
    assert turn.intent == "human"
    [h] = await db.handoffs()
    assert (h.status, h.channel, h.lang) == ("open", "web", "vi")
    assert (await db.user("h1")).state["flow"]["name"] == "handoff"
    assert await count(Consent, Consent.purpose == "handoff") == 1
    assert await db.messages() == []  # "/canbo" and "đồng ý" are not messages for staff


async def test_declining_stores_nothing_and_opens_nothing(pipeline, db, count):
    await pipeline.handle(message("/canbo", sender="h2", lang="vi"))
    turn = await pipeline.handle(message("không", sender="h2"))
    assert "Tôi không lưu gì cả." in all_text(turn)
    assert await db.handoffs() == [] and await count(Consent) == 0


async def test_messages_go_to_staff_not_to_the_nlu_with_one_acknowledgement_per_few_minutes(
    pipeline, db, nlu, monkeypatch
):
    await open_handoff(pipeline, "h3")
    clock = [time.time() + 3600]  # an hour after the opening's acknowledgement
    monkeypatch.setattr(chat.time, "time", lambda: clock[0])
    nlu.parsed.clear()
    first = await pipeline.handle(message("hỗ trợ làm nhà", sender="h3"))
    assert "40 triệu" not in all_text(first)  # not answered by the bot
    assert nlu.parsed == []  # the NLU never saw it
    assert [r.text for r in first.replies] == [FORWARDED]
    clock[0] += 60
    second = await pipeline.handle(message("nhà tôi ở thôn Gò Da", sender="h3"))
    assert second.replies == []  # acknowledged a minute ago: silence
    clock[0] += 5 * 60
    third = await pipeline.handle(message("con tôi đi học xa", sender="h3"))
    assert [r.text for r in third.replies] == [FORWARDED]  # five minutes later: once more
    msgs = await db.messages()
    assert [(m.sender, m.text) for m in msgs] == [
        ("villager", "hỗ trợ làm nhà"),
        ("villager", "nhà tôi ở thôn Gò Da"),
        ("villager", "con tôi đi học xa"),
    ]
    [h] = await db.handoffs()
    assert h.last_villager_at is not None and h.last_message_at >= h.last_villager_at


async def test_the_words_that_asked_for_a_person_are_the_first_message(pipeline, db):
    await pipeline.handle(message("/canbo", sender="h4", lang="vi"))
    await pipeline.handle(message(payload="/consent yes", sender="h4"))
    await pipeline.handle(message("/huy", sender="h4"))
    turn = await pipeline.handle(message("tôi muốn hỏi cán bộ về đất rừng", sender="h4"))
    assert OPENED in all_text(turn)  # consent on record: straight in, a new handoff
    assert [m.text for m in await db.messages()] == ["tôi muốn hỏi cán bộ về đất rừng"]


@pytest.mark.parametrize(
    "ending",
    [
        message("/huy", sender="e"),
        message("kết thúc", sender="e"),
        message("Huy", sender="e"),
        message(payload="/handoff end", sender="e"),
    ],
    ids=["slash-huy", "typed", "typed-without-diacritics", "button"],
)
async def test_the_villager_ends_it_and_the_bot_answers_again(pipeline, db, ending):
    await open_handoff(pipeline, "e")
    turn = await pipeline.handle(ending)
    assert ENDED in all_text(turn)
    [h] = await db.handoffs()
    assert (h.status, h.closed_by) == ("closed", "villager")
    assert "flow" not in (await db.user("e")).state
    after = await pipeline.handle(message("hỗ trợ làm nhà", sender="e"))
    assert "40 triệu" in all_text(after)  # the bot answers again
    assert len(await db.messages()) == 0


async def test_huy_without_a_handoff_still_cancels_forms_only(pipeline):
    turn = await pipeline.handle(message("/huy", sender="f1", lang="vi"))
    assert all_text(turn) == "Không có biểu mẫu nào đang điền."


async def test_a_photo_while_talking_to_staff_is_said_to_need_text(pipeline, db):
    from bot.messages import Location

    await open_handoff(pipeline, "p1")
    turn = await pipeline.handle(message(sender="p1", location=Location(15.1, 108.8)))
    assert "Cán bộ chỉ nhận được tin nhắn chữ và tin nhắn thoại" in all_text(turn)
    assert await db.messages() == []


async def test_staff_reply_and_hand_back_reach_the_villager(pipeline, services, db):
    await open_handoff(pipeline, "s1")
    await pipeline.handle(message("hỗ trợ làm nhà", sender="s1"))
    [h] = await db.handoffs()
    async with services.writing() as s:
        done = await staff.reply(
            s, services, h.id, "Chào bác, xã sẽ gọi lại.", staff_id=None, staff_name="lan"
        )
        await s.commit()
    async with services.writing() as s:
        await staff.reply(
            s, services, h.id, "Bác cần mang sổ hộ khẩu.", staff_id=None, staff_name="lan"
        )
        await s.commit()
    rows = await db.outbox()
    texts = [Reply.from_dict(r.payload).text for r in rows]
    assert texts[0] == "Một cán bộ đã trả lời bạn:\nChào bác, xã sẽ gọi lại."
    assert texts[1] == "Cán bộ trả lời:\nBác cần mang sổ hộ khẩu."
    assert {(r.channel, r.recipient, r.status) for r in rows} == {("web", "s1", "queued")}
    assert rows[0].id == done.outbox_id
    msgs = await db.messages()
    assert [(m.sender, m.staff_name, m.outbox_id) for m in msgs[1:]] == [
        ("staff", "lan", rows[0].id),
        ("staff", "lan", rows[1].id),
    ]
    [h] = await db.handoffs()
    assert h.answered_at is not None
    # Hand back: the villager is told, and the bot answers their next message.
    async with services.writing() as s:
        back = await staff.hand_back(s, services, h.id)
        await s.commit()
    assert back.outbox_id is not None
    told = Reply.from_dict((await db.outbox())[-1].payload).text
    assert told.startswith("Cán bộ đã kết thúc trò chuyện.") and "/canbo" in told
    [h] = await db.handoffs()
    assert (h.status, h.closed_by) == ("closed", "staff")
    after = await pipeline.handle(message("hỗ trợ làm nhà", sender="s1"))
    assert "40 triệu" in all_text(after)
    assert "flow" not in (await db.user("s1")).state
    with pytest.raises(staff.Refused, match="đã kết thúc"):
        async with services.writing() as s:
            await staff.reply(s, services, h.id, "còn nữa", staff_id=None, staff_name="lan")


async def test_a_reply_to_someone_who_moved_on_offers_the_way_back(pipeline, services, db):
    await open_handoff(pipeline, "m1")
    await pipeline.handle(message("/trogiup", sender="m1"))  # another task: the flow is left
    [h] = await db.handoffs()
    assert h.status == "open"
    async with services.writing() as s:
        await staff.reply(s, services, h.id, "Bác hỏi gì ạ?", staff_id=None, staff_name="lan")
        await s.commit()
    [row] = await db.outbox()
    payloads = [b.payload for b in Reply.from_dict(row.payload).buttons]
    assert payloads == ["/canbo", "/handoff end"]
    back = await pipeline.handle(message(payload="/canbo", sender="m1"))
    assert "Bạn đang trò chuyện với cán bộ." in all_text(back)
    [h2] = await db.handoffs()
    assert h2.id == h.id  # the same conversation, resumed
    await pipeline.handle(message("tôi muốn hỏi về nhà", sender="m1"))
    assert (await db.messages())[-1].text == "tôi muốn hỏi về nhà"


async def test_zalo_replies_only_within_the_window(pipeline, services, db):
    await open_handoff(pipeline, "z1", channel="zalo")
    [h] = await db.handoffs()
    hours = services.settings.outbox.zalo_window_hours
    async with services.writing() as s:
        await s.execute(
            update(User)
            .where(User.external_id == "z1")
            .values(last_seen_at=utcnow() - timedelta(hours=hours, minutes=5))
        )
        await s.commit()
    with pytest.raises(staff.Refused, match="Zalo OA không chuyển tin trả lời nữa"):
        async with services.writing() as s:
            await staff.reply(s, services, h.id, "Chào bác", staff_id=None, staff_name="lan")
    assert await db.outbox() == []  # nothing pretends to be sent
    assert [m.sender for m in await db.messages()] == []
    # Handing back outside the window: closed, nothing queued; told at the next message.
    async with services.writing() as s:
        back = await staff.hand_back(s, services, h.id)
        await s.commit()
    assert back.outbox_id is None and await db.outbox() == []
    turn = await pipeline.handle(message("hỗ trợ làm nhà", sender="z1", channel="zalo"))
    text = all_text(turn)
    assert "Cán bộ đã kết thúc trò chuyện." in text and "40 triệu" in text


async def test_zalo_replies_inside_the_window_are_queued_up_to_its_message_count(
    pipeline, services, db
):
    await open_handoff(pipeline, "z2", channel="zalo")
    [h] = await db.handoffs()
    async with services.sessionmaker() as s:
        user = await s.get(User, h.user_id)
        answered = await handoff_repo.sent_since(s, "zalo", "z2", user.last_seen_at)
    assert answered == 2  # the bot's own replies to the villager's last message count
    most = services.settings.outbox.zalo_window_messages
    for n in range(most - answered):
        async with services.writing() as s:
            await staff.reply(s, services, h.id, f"tin {n}", staff_id=None, staff_name="lan")
            await s.commit()
    rows = await db.outbox()
    assert len(rows) == most - answered
    assert {(r.channel, r.recipient) for r in rows} == {("zalo", "z2")}
    with pytest.raises(staff.Refused, match=f"chỉ cho gửi {most} tin"):
        async with services.writing() as s:
            await staff.reply(s, services, h.id, "một tin nữa", staff_id=None, staff_name="lan")
    # The villager writes again: a new window.
    await pipeline.handle(message("nhà tôi ở Gò Da", sender="z2", channel="zalo"))
    async with services.writing() as s:
        await staff.reply(s, services, h.id, "Dạ", staff_id=None, staff_name="lan")
        await s.commit()


async def test_staff_reply_is_checked(pipeline, services, db):
    await open_handoff(pipeline, "c1")
    [h] = await db.handoffs()
    short = dataclasses.replace(services.settings.handoff, max_reply_chars=10)
    limited = dataclasses.replace(
        services, settings=dataclasses.replace(services.settings, handoff=short)
    )
    for text, why in (("   ", "trống"), ("x" * 11, "dài quá")):
        with pytest.raises(staff.Refused, match=why):
            async with limited.writing() as s:
                await staff.reply(s, limited, h.id, text, staff_id=None, staff_name="lan")
    with pytest.raises(staff.Refused, match="Không có cuộc trò chuyện"):
        async with services.writing() as s:
            await staff.reply(s, services, 999_999, "a", staff_id=None, staff_name="lan")
    assert await db.outbox() == []


async def test_a_handoff_removed_meanwhile_ends_the_flow(pipeline, services, db):
    await open_handoff(pipeline, "r1")
    async with services.writing() as s:
        from sqlalchemy import delete

        await s.execute(delete(Handoff))
        await s.commit()
    turn = await pipeline.handle(message("hỗ trợ làm nhà", sender="r1"))
    assert "40 triệu" in all_text(turn)
    assert "flow" not in (await db.user("r1")).state


async def test_after_a_long_silence_the_bot_answers_again_and_staff_can_still_reply(
    pipeline, services, db
):
    await open_handoff(pipeline, "i1")
    hours = services.settings.handoff.idle_hours
    async with services.writing() as s:
        await s.execute(
            update(Handoff).values(last_message_at=utcnow() - timedelta(hours=hours, minutes=1))
        )
        await s.commit()
    turn = await pipeline.handle(message("hỗ trợ làm nhà", sender="i1"))
    text = all_text(turn)
    assert "Cuộc trò chuyện với cán bộ đang chờ." in text and "40 triệu" in text
    assert "flow" not in (await db.user("i1")).state
    [h] = await db.handoffs()
    assert h.status == "open" and await db.messages() == []
    async with services.writing() as s:
        await staff.reply(
            s, services, h.id, "Xin lỗi bác, giờ mới trả lời.", staff_id=None, staff_name="lan"
        )
        await s.commit()
    [row] = await db.outbox()
    assert [b.payload for b in Reply.from_dict(row.payload).buttons][0] == "/canbo"


def test_bad_handoff_settings_are_refused():
    from bot.config import ConfigError, load_settings
    from tests.conftest import ROOT

    with pytest.raises(ConfigError, match="handoff"):
        load_settings(ROOT / "config.yml", env={"HANDOFF_IDLE_HOURS": "0"})
    with pytest.raises(ConfigError, match="handoff.ack_minutes"):
        load_settings(ROOT / "config.yml", env={"HANDOFF_ACK_MINUTES": "soon"})
