"""/xoadulieu leaves no row that names the person, on Telegram and on Zalo, SQLite and PostgreSQL.

A person talks to the bot on both platforms the way people do (a Zalo follow, messages, a shared
contact, consent, a subscription, /dulieu, read receipts), a second person does the same, then
the first deletes their data. Every column of every table (reflected from the database) is then
searched for the person's platform ids, phone, name and the texts they sent: nothing may remain,
while the second person's data is all still there.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.privacy import erase
from bot.storage.models import Consent, InboxEntry, Subscription, User
from tests.channels.conftest import TelegramHarness
from tests.channels.conftest_zalo import start_bot
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.zalo_api import FakeZaloApi, event, receipt
from tests.privacy.conftest import traces

TG_PERSON, TG_OTHER = 8724613905, 7315920486
ZALO_PERSON, ZALO_OTHER = "3957201846193847561", "5120948377162039485"
PHONE, NAME = "0905777333", "Đinh Thị Hờ Lan"
# Questions the content answers (an unanswered one is counted in content_gaps, with no id).
TEXTS = {
    "telegram": "nhà tôi ở thôn Mang Ri cần hỗ trợ làm nhà",
    "zalo": "bao giờ có lớp tập huấn trồng quế ở Trà Bồng",
}


async def telegram_talk(tg: TelegramHarness, chat: int) -> None:
    api = tg.api
    for upd in (
        api.text_update(chat, "/start"),
        api.text_update(chat, TEXTS["telegram"]),
        api.contact_update(chat, phone=PHONE, first_name=NAME),
        api.text_update(chat, "/subscribe"),
        api.callback_update(chat, "/consent yes", "Đồng ý"),
        api.text_update(chat, "/dulieu"),
    ):
        await tg.push(upd)
        await tg.settle()


async def zalo_talk(bot: Any, user: str) -> None:
    await bot.post(event("follow", user))
    await bot.settle()
    for text in ("/subscribe", "đồng ý", TEXTS["zalo"], "/dulieu"):
        status, _ = await bot.post(event("user_send_text", user, text=text))
        assert status == 200
        await bot.settle()
        refs = [s.message_id for s in bot.fake.sent if s.user_id == user and s.message_id]
        await bot.post(receipt("user_seen_message", user, refs[-1:]))
        await bot.settle()


@pytest.fixture
async def both_channels(app_parts, settings):
    services, _engine, pipeline = app_parts
    exports = settings.path(settings.privacy.export_dir)
    async with FakeTelegramAPI() as tg_api:
        tg = TelegramHarness(tg_api, app_parts, settings, "polling")
        zalo_api = await FakeZaloApi().start()
        bot = None
        try:
            await tg.start()
            tg.channel.exports_dir = exports
            bot = await start_bot(zalo_api, pipeline, services.sessionmaker)
            bot.channel.exports_dir = exports
            yield tg, bot
        finally:
            if bot is not None:
                await bot.close()
            await tg.close()
            await zalo_api.stop()


async def test_no_row_names_a_person_after_they_delete_their_data(
    both_channels, app_parts, settings
):
    tg, zbot = both_channels
    services, engine, _pipeline = app_parts
    await telegram_talk(tg, TG_OTHER)
    await zalo_talk(zbot, ZALO_OTHER)
    await telegram_talk(tg, TG_PERSON)
    await zalo_talk(zbot, ZALO_PERSON)
    # What a contact form would store once the person consented: their name and phone.
    async with services.sessionmaker() as s:
        for uid in (str(TG_PERSON), ZALO_PERSON):
            await s.execute(
                update(User).where(User.external_id == uid).values(display_name=NAME, phone=PHONE)
            )
        await s.commit()
    needles = [str(TG_PERSON), ZALO_PERSON, PHONE, NAME, *TEXTS.values()]
    before = {(table, needle) for table, _col, needle in await traces(engine, needles)}
    # The scan sees them while they are kept: the follow key, the user rows, the name and phone.
    assert {("inbox", ZALO_PERSON), ("users", str(TG_PERSON)), ("users", PHONE)} <= before
    exports = settings.path(settings.privacy.export_dir)
    exported = len(list(exports.iterdir()))
    assert exported == 4  # one /dulieu each

    await tg.push(tg.api.text_update(TG_PERSON, "/xoadulieu"))
    await tg.settle()
    await tg.push(tg.api.callback_update(TG_PERSON, "/delete yes", "Xóa hết"))
    await tg.settle()
    for text in ("/xoadulieu", "có"):
        await zbot.post(event("user_send_text", ZALO_PERSON, text=text))
        await zbot.settle()
    await erase.settle()

    assert "Đã xóa toàn bộ dữ liệu của bạn" in tg.api.texts(TG_PERSON)[-1]
    assert "Đã xóa toàn bộ dữ liệu của bạn" in zbot.fake.texts(ZALO_PERSON)[-1]
    assert await traces(engine, needles) == []
    assert len(list(exports.iterdir())) == exported - 2  # theirs went, the others' stay
    # The other two people keep everything.
    others = [str(TG_OTHER), ZALO_OTHER]
    assert {n for _t, _c, n in await traces(engine, others)} == set(others)
    async with services.sessionmaker() as s:
        assert len((await s.execute(select(User))).all()) == 2
        assert len((await s.execute(select(Consent))).all()) == 2
        assert len((await s.execute(select(Subscription))).all()) == 2
        # The person's messages still count as handled (a hashed key), without their id.
        erased = (
            await s.execute(select(InboxEntry).where(InboxEntry.message_id.startswith("erased:")))
        ).scalars()
        assert {r.channel for r in erased} == {"zalo"}


async def test_a_zalo_event_redelivered_after_the_erasure_is_not_handled_again(
    both_channels, app_parts
):
    """Zalo resends an event it thinks was missed; a follow has no `msg_id`, so its key names the
    person, and the erasure hashed it. The resend must find that hash: handling it again would
    store the person anew and greet them as if they had just followed."""
    _tg, zbot = both_channels
    services, _engine, _pipeline = app_parts
    follow = event("follow", ZALO_PERSON)
    assert (await zbot.post(follow))[0] == 200
    await zbot.settle()
    for text in ("/xoadulieu", "có"):
        await zbot.post(event("user_send_text", ZALO_PERSON, text=text))
        await zbot.settle()
    await erase.settle()
    sent = len(zbot.fake.texts(ZALO_PERSON))
    assert (await zbot.post(follow))[0] == 200  # the same event again, as Zalo resends it
    await zbot.settle()
    assert len(zbot.fake.texts(ZALO_PERSON)) == sent  # not greeted again
    async with services.sessionmaker() as s:
        assert (await s.execute(select(User).where(User.external_id == ZALO_PERSON))).all() == []
        keys = (await s.execute(select(InboxEntry.message_id))).scalars().all()
    assert not [k for k in keys if ZALO_PERSON in k]


def test_the_erasure_knows_every_zalo_key_that_carries_a_user_id():
    from bot.channels import zalo
    from bot.storage.repositories import personal

    # The keys `event_key` builds for events without a msg_id: `<event>:<user id>:<timestamp>`.
    assert set(personal.KEYED_EVENTS) == zalo.HANDLED_EVENTS
    key = zalo.event_key({"event_name": "follow", "follower": {"id": "42"}, "timestamp": "1"})
    assert key == "follow:42:1"


async def test_an_officers_invite_code_keeps_its_role_and_area_but_not_who_used_it(
    pipeline, services
):
    from datetime import UTC, datetime, timedelta

    from bot.storage.models import InviteCode
    from tests.conftest import message

    await pipeline.handle(message("/start", sender="officer-1"))
    now = datetime.now(UTC)
    async with services.writing() as s:
        user = (await s.execute(select(User).where(User.external_id == "officer-1"))).scalar_one()
        user.role, user.area_code = "officer", "qn.sonha.sonbao"
        s.add(
            InviteCode(
                code_hash="h" * 64,
                hint="AB",
                role="officer",
                area_code="qn.sonha.sonbao",
                expires_at=now + timedelta(days=7),
                used_at=now,
                used_by=user.id,
            )
        )
        await s.commit()
    shown = await pipeline.handle(message("/dulieu", sender="officer-1", lang="vi"))
    folder = services.settings.path(services.settings.privacy.export_dir)
    from bot.privacy import export

    data = json.loads(export.local_file(shown.replies[1].document, folder).read_text("utf-8"))
    assert data["user"]["area_code"] == "qn.sonha.sonbao"
    assert [i["area_code"] for i in data["invite_codes_used"]] == ["qn.sonha.sonbao"]
    await pipeline.handle(message("/xoadulieu", sender="officer-1"))
    await pipeline.handle(message(payload="/delete yes", sender="officer-1"))
    async with services.sessionmaker() as s:
        [code] = (await s.execute(select(InviteCode))).scalars().all()
        assert (code.used_by, code.role, code.area_code) == (None, "officer", "qn.sonha.sonbao")
        assert (await s.execute(select(User))).scalars().all() == []
