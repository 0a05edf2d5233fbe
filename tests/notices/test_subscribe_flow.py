"""Subscribing in a few taps: the area typed or chosen by buttons (a commune's villages), the
topics switched on and off; every change applies to notices still going out, before they send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.notices import compose as composing
from bot.notices.model import Draft
from bot.storage.models import OutboxEntry, Subscription
from tests.conftest import all_text, message


async def said(pipeline, text="", payload=None, sender="f1", channel="telegram"):
    turn = await pipeline.handle(
        message(text, payload=payload, sender=sender, channel=channel, lang="vi")
    )
    return all_text(turn)


async def sub_of(services, sender="f1"):
    from bot.storage.models import User

    async with services.sessionmaker() as s:
        return (
            await s.execute(
                select(Subscription)
                .join(User, User.id == Subscription.user_id)
                .where(User.external_id == sender)
            )
        ).scalar_one()


async def test_area_typed_then_village_buttons_then_topics(pipeline, services):
    await said(pipeline, "/dangky")
    out = await said(pipeline, payload="/consent yes")
    assert "Đã đăng ký." in out and "Bạn ở xã nào?" in out
    out = await said(pipeline, "ba dong")  # without diacritics
    assert "Bạn ở thôn, làng nào của xã Ba Động?" in out
    assert "1. Làng Teng\n2. Cả xã Ba Động" in out
    out = await said(pipeline, "2")  # a typed number picks the button (Zalo)
    assert "Đã ghi địa bàn: xã Ba Động." in out and "Bạn muốn nhận tin về chủ đề nào?" in out
    assert "1. ✓ Lớp tập huấn" in out and "Cảnh báo khẩn" not in out.split("\n1.")[1]
    assert (await sub_of(services)).area_code == "qng.ba_dong"
    assert (await sub_of(services)).topics is None  # every topic until they choose
    out = await said(pipeline, payload="/chude hop")  # switch "Họp thôn, họp xã" off
    assert "4. Họp thôn, họp xã" in out and "1. ✓ Lớp tập huấn" in out
    sub = await sub_of(services)
    assert "hop" not in sub.topics and ",tap_huan," in sub.topics
    out = await said(pipeline, "y te")  # a topic typed by part of its name
    assert "5. Y tế, trường học" in out and "✓ Y tế" not in out
    assert ",y_te_truong_hoc," not in (await sub_of(services)).topics
    out = await said(pipeline, "xong")
    assert "Đã lưu. Địa bàn: xã Ba Động." in out and "Họp" not in out.split("Chủ đề:")[1]
    again = await said(pipeline, "/dangky")
    assert "Địa bàn: xã Ba Động." in again and "Đổi địa bàn" in again


async def test_an_unknown_name_says_so_and_a_former_name_is_found(pipeline, services):
    await said(pipeline, "/dangky", sender="f2")
    await said(pipeline, payload="/consent yes", sender="f2")
    out = await said(pipeline, "xyzq", sender="f2")
    assert 'Không tìm thấy xã, thôn nào tên "xyzq"' in out
    out = await said(pipeline, "Làng Teng", sender="f2")  # one match: chosen at once
    assert "Đã ghi địa bàn: Làng Teng." in out
    assert (await sub_of(services, "f2")).area_code == "qng.ba_dong.lang_teng"
    out = await said(pipeline, payload="/khuvuc", sender="f2")
    assert "Bạn ở xã nào?" in out
    out = await said(pipeline, "ba thanh", sender="f2")  # the former name of xã Ba Động
    assert "Bạn ở thôn, làng nào của xã Ba Động?" in out


async def test_changes_apply_to_a_scheduled_notice_before_it_goes(pipeline, services):
    later = datetime.now(UTC) + timedelta(hours=3)
    async with services.sessionmaker() as s:
        made = await composing.compose(
            s,
            Draft(
                title={"vi": "Họp xã"},
                body={"vi": "Họp xã tối thứ Bảy."},
                areas=["qng.ba_dong"],
                send_at=later,
            ),
            settings=services.settings,
        )
        await s.commit()
    nid = made.notice.id
    assert made.total == 0 and made.notice.status == "scheduled"

    async def rows():
        async with services.sessionmaker() as s:
            return (
                await s.execute(
                    select(OutboxEntry.status, OutboxEntry.reason).where(
                        OutboxEntry.notice_id == nid
                    )
                )
            ).all()

    await said(pipeline, "/dangky", sender="f3")
    await said(pipeline, payload="/consent yes", sender="f3")
    assert await rows() == []  # no area yet: not in the notice's area
    await said(pipeline, payload="/khuvuc qng.ba_dong !", sender="f3")
    assert await rows() == [("queued", None)]  # the new area's notice reaches them
    await said(pipeline, payload="/khuvuc qng.ba_vinh", sender="f3")
    assert await rows() == [("failed", "unsubscribed")]  # moved away: not sent
    await said(pipeline, "/dangky", sender="f4")
    await said(pipeline, payload="/consent yes", sender="f4")
    await said(pipeline, payload="/khuvuc qng.ba_dong !", sender="f4")
    await said(pipeline, "/ngung", sender="f4")
    assert sorted(await rows()) == [("failed", "unsubscribed")] * 2  # stopped: not sent
