# ruff: noqa: F811 - pytest fixtures imported from other conftests are redefined as arguments
"""Notices end to end, each channel wired as production wires it (adapter, inbound worker,
sender, the outbox dispatcher) against the fake Telegram Bot API and the fake Zalo OA API:
people subscribe in the chat (language, area typed, topics), a notice is composed, the
dispatcher delivers it to exactly the targeted subscribers, in Hrê where a translation exists
and in Vietnamese otherwise; scheduled and cancelled notices are not sent. Done when (issue
12): a training notice with RSVP composed on the dashboard reaches the targeted subscribers on
Telegram and Zalo, their answers are counted, and the reminder goes out (to those who said
yes)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.app import build_pipeline
from bot.notices import compose as composing
from bot.notices import manage, reminders
from bot.notices.model import Draft, zone
from bot.storage.models import OutboxEntry
from bot.storage.repositories import notices as repo
from tests.channels.conftest_zalo import zalo_api  # noqa: F401
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.flows.forms.test_channels import TelegramDriver, ZaloDriver
from tests.staff.conftest import (  # noqa: F401
    login,
    make_staff,
    new_client,
    post_form,
    settings,
    staff_client,
    staff_server,
)

COMMUNE = "qng.ba_dong"


def pushed(d: Any) -> list[str]:
    return d.api.texts(d.chat) if isinstance(d, TelegramDriver) else d.fake.texts(d.user)


async def subscribe(d: Any, lang: str, area_typed: str, whole: bool = True) -> None:
    """In the chat: the language, /dangky, consent, the area typed, the topics left as they are."""
    await d.text(f"/lang {lang}")
    said = "\n".join(await d.text("/dangky"))
    assert "Bạn có đồng ý không?" in said, said
    said = "\n".join(await d.text("đồng ý"))
    assert "Bạn ở xã nào?" in said, said
    said = "\n".join(await d.text(area_typed))
    if "thôn, làng nào" in said:
        said = "\n".join(await d.press(2 if whole else 1))
    assert "Đã ghi địa bàn" in said and "chủ đề nào" in said, said
    said = "\n".join(await d.text("xong"))
    assert "Đã lưu." in said, said


async def arrives(d: Any, needle: str, timeout: float = 15) -> str:
    async with asyncio.timeout(timeout):
        while not any(needle in t for t in pushed(d)):
            await asyncio.sleep(0.05)
    return next(t for t in pushed(d) if needle in t)


@pytest.fixture
async def four(app_parts, settings, zalo_api):
    """Telegram: a Hrê speaker of xã Ba Động and one of xã Ba Vinh; Zalo: a Hrê speaker of
    Làng Teng (in xã Ba Động) and a Vietnamese speaker of xã Ba Động."""
    services, engine, _ = app_parts
    parts = (services, engine, build_pipeline(services))
    async with FakeTelegramAPI() as api:
        tg_in, tg_out = TelegramDriver(parts, settings, api), TelegramDriver(parts, settings, api)
        z_hre, z_vi = ZaloDriver(parts, zalo_api), ZaloDriver(parts, zalo_api)
        await tg_in.start()
        tg_out.h = tg_in.h  # one bot, two chats
        await z_hre.start()
        z_vi.bot = z_hre.bot
        try:
            await subscribe(tg_in, "hre", "Ba Động")
            await subscribe(tg_out, "hre", "Ba Vinh")
            await subscribe(z_hre, "hre", "lang teng")
            await subscribe(z_vi, "vi", "ba dong")
            yield services, tg_in, tg_out, z_hre, z_vi
        finally:
            await z_hre.close()
            await tg_in.close()


async def compose(services, **kw) -> int:
    async with services.writing() as s:
        made = await composing.compose(
            s, Draft(**kw), settings=services.settings, translators=services.catalogs.for_lang
        )
        await s.commit()
    return made.notice.id


async def test_targeted_subscribers_get_it_in_their_language(four):
    services, tg_in, tg_out, z_hre, z_vi = four
    before = {id(d): len(pushed(d)) for d in (tg_out, z_vi)}
    nid = await compose(
        services,
        title={"vi": "Lớp tập huấn dệt thổ cẩm", "hre": "HRE-TITLE"},
        body={"vi": "Mời bà con.", "hre": "HRE-BODY"},
        topics=["tap_huan"],
        areas=[COMMUNE],
        langs=["hre"],
    )
    for d in (tg_in, z_hre):
        text = await arrives(d, "HRE-TITLE")
        assert "HRE-BODY" in text and "Mời bà con." not in text
    # a second notice without a Hrê text: Vietnamese, with the note
    await compose(
        services,
        title={"vi": "Họp thôn tháng 12"},
        body={"vi": "Họp lúc 19 giờ."},
        areas=[COMMUNE],
        langs=["hre"],
    )
    for d in (tg_in, z_hre):
        text = await arrives(d, "Họp thôn tháng 12")
        assert "Họp lúc 19 giờ." in text and "Chưa có bản tiếng Hrê" in text
    await asyncio.sleep(0.5)  # the dispatchers have had time for anything else
    for d in (tg_out, z_vi):  # another commune; another language
        assert len(pushed(d)) == before[id(d)], pushed(d)[before[id(d)] :]
    async with services.sessionmaker() as s:
        got = await manage.progress(s, nid)
    assert got.sent == 2 and got.remaining == 0 and got.notice.status == "done"


async def test_scheduled_is_not_sent_before_and_cancelled_is_not_sent(four):
    services, tg_in, _tg_out, z_hre, _z_vi = four
    later = datetime.now(UTC) + timedelta(hours=2)
    nid = await compose(
        services, title={"vi": "Hẹn giờ"}, body={"vi": "Sau."}, areas=[COMMUNE], send_at=later
    )
    gone = await compose(
        services, title={"vi": "Sẽ hủy"}, body={"vi": "Không."}, areas=[COMMUNE], send_at=later
    )
    await asyncio.sleep(1.0)  # several dispatcher passes
    assert not any("Hẹn giờ" in t for d in (tg_in, z_hre) for t in pushed(d))
    async with services.writing() as s:
        await manage.cancel(s, gone)
        # its time comes (both notices' rows due now)
        await s.execute(
            update(OutboxEntry)
            .where(OutboxEntry.notice_id.in_([nid, gone]))
            .values(due_at=datetime.now(UTC))
        )
        await s.commit()
    for d in (tg_in, z_hre):
        await arrives(d, "Hẹn giờ")
    await asyncio.sleep(0.5)
    assert not any("Sẽ hủy" in t for d in (tg_in, z_hre) for t in pushed(d))
    async with services.sessionmaker() as s:
        got = await manage.progress(s, gone)
    assert got.failed_by_reason() == {"cancelled": 3} and got.sent == 0


async def test_done_when_dashboard_training_rsvp_and_reminder(
    four, staff_client, make_staff, login, post_form
):
    services, tg_in, tg_out, z_hre, z_vi = four
    starts = (datetime.now(UTC) + timedelta(hours=20)).astimezone(zone(services.settings.timezone))
    client = await login(staff_client, await make_staff("province"))
    form = {
        "title_vi": "Tập huấn chăn nuôi bò",
        "body_vi": "Mời bà con đến học cách chăm bò.",
        "topic": "tap_huan",
        "area": COMMUNE,
        "date": starts.strftime("%d/%m/%Y"),
        "time": starts.strftime("%H:%M"),
        "place": "Nhà văn hóa xã",
        "rsvp": "1",
    }
    r = await post_form(client, "/staff/notices/new", {**form, "action": "preview"})
    assert "Xem trước: 3 người nhận" in await r.text()
    r = await post_form(client, "/staff/notices/new", {**form, "action": "send"})
    assert r.status == 303
    nid = int(r.headers["Location"].rsplit("/", 1)[1])
    for d in (tg_in, z_hre, z_vi):
        text = await arrives(d, "Tập huấn chăn nuôi bò")
        assert "Nhà văn hóa xã" in text
    assert "1. Tôi sẽ tham gia\n2. Không tham gia" in await arrives(z_hre, "Tập huấn chăn nuôi bò")
    assert not any("Tập huấn chăn nuôi bò" in t for t in pushed(tg_out))
    said = "\n".join(await tg_in.press(1))  # the Telegram button "Tôi sẽ tham gia"
    assert "Đã ghi bạn sẽ tham gia" in said, said
    said = "\n".join(await z_hre.text("1"))  # Zalo: the numbered option typed
    assert "Đã ghi bạn sẽ tham gia" in said, said
    said = "\n".join(await z_vi.text("2"))
    assert "Đã ghi bạn không tham gia" in said, said
    got = await (await client.get(f"/staff/notices/{nid}/progress.json")).json()
    assert got["rsvp"] == {"yes": 2, "no": 1} and got["sent"] == 3
    # the reminder job's pass (serve runs it every notices.check_interval_seconds)
    assert await reminders.sweep(services) == 2
    for d in (tg_in, z_hre):
        text = await arrives(d, "Nhắc lịch")
        assert "Tập huấn chăn nuôi bò" in text and "Nhà văn hóa xã" in text
    assert await reminders.sweep(services) == 0  # once
    await asyncio.sleep(0.5)
    assert not any("Nhắc lịch" in t for t in pushed(z_vi))
    r = await client.get(f"/staff/notices/{nid}/attendees?format=csv")
    assert len((await r.read()).decode("utf-8-sig").strip().splitlines()) == 3  # header + 2
    async with services.sessionmaker() as s:
        assert await repo.rsvp_counts(s, nid) == {"yes": 2, "no": 1}
