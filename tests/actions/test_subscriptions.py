"""Subscribing and stopping notices, and what "my data" shows of them."""

from __future__ import annotations

from bot.storage.models import OutboxEntry, Subscription
from tests.conftest import all_text, message


async def test_subscribe_stop_and_subscribe_again_keep_one_row(pipeline, count):
    await pipeline.handle(message("/subscribe", sender="s1", lang="vi"))
    first = await pipeline.handle(message(payload="/consent yes", sender="s1", lang="vi"))
    assert "Đã đăng ký. Bạn sẽ nhận thông báo" in all_text(first)
    again = await pipeline.handle(message("/dangky", sender="s1", lang="vi"))
    assert all_text(again).startswith("Bạn đã đăng ký nhận thông báo rồi. Muốn ngừng, gõ /ngung.")
    assert "1. Đổi địa bàn\n2. Đổi chủ đề\n3. Đổi ngôn ngữ\n4. Ngừng nhận" in all_text(again)
    stop = await pipeline.handle(message("/stop", sender="s1", lang="vi"))
    assert all_text(stop) == "Đã ngừng gửi thông báo cho bạn. Muốn nhận lại, gõ /dangky."
    assert await count(Subscription, Subscription.active.is_(True)) == 0
    stop_again = await pipeline.handle(message("/unsubscribe", sender="s1", lang="vi"))
    assert "Bạn chưa đăng ký nhận thông báo" in all_text(stop_again)
    back = await pipeline.handle(message("/subscribe", sender="s1", lang="vi"))
    assert "Đã đăng ký. Bạn sẽ nhận thông báo" in all_text(back)
    assert await count(Subscription) == 1
    assert await count(Subscription, Subscription.active.is_(True)) == 1


async def test_stop_without_a_subscription_says_so(pipeline, count):
    turn = await pipeline.handle(message("/stop", sender="s2"))
    assert "Bạn chưa đăng ký nhận thông báo" in all_text(turn)
    assert await count(Subscription) == 0


async def test_my_data_shows_the_consent_language_and_subscription(pipeline):
    await pipeline.handle(message("/subscribe", sender="s3", lang="sed"))
    await pipeline.handle(message(payload="/consent yes", sender="s3", lang="sed"))
    shown = all_text(await pipeline.handle(message("/dulieu", sender="s3", lang="sed")))
    assert "- Ngôn ngữ: Ca Dong" in shown and "Nhận thông báo: có" in shown
    assert "- Đồng ý để gửi thông báo, lớp tập huấn cho bạn, ngày" in shown
    await pipeline.handle(message("/stop", sender="s3", lang="sed"))
    stopped = all_text(await pipeline.handle(message("/dulieu", sender="s3", lang="sed")))
    assert "Nhận thông báo: không" in stopped


async def test_a_new_language_rewrites_the_notices_still_queued(pipeline, services):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select, update

    from bot.messages import Reply
    from bot.notices import compose as composing
    from bot.notices.model import Draft

    await pipeline.handle(message("/subscribe", sender="s4", channel="telegram", lang="vi"))
    await pipeline.handle(
        message(payload="/consent yes", sender="s4", channel="telegram", lang="vi")
    )
    async with services.writing() as s:
        await s.execute(update(Subscription).values(area_code="qng.ba_dong"))
        made = await composing.compose(
            s,
            Draft(
                title={"vi": "Lớp tập huấn trồng quế", "hre": "HRE-TITLE"},
                body={"vi": "Mời bà con đến học.", "hre": "HRE-BODY"},
                areas=["qng.ba_dong"],
                langs=["vi", "hre"],
                send_at=datetime.now(UTC) + timedelta(days=1),
            ),
            settings=services.settings,
            translators=services.catalogs.for_lang,
        )
        await s.commit()

    async def row():
        async with services.sessionmaker() as s:
            return (
                await s.execute(select(OutboxEntry).where(OutboxEntry.notice_id == made.notice.id))
            ).scalar_one()

    assert "Lớp tập huấn trồng quế" in Reply.from_dict((await row()).payload).text
    await pipeline.handle(message("/lang hre", sender="s4", channel="telegram"))
    queued = await row()
    assert queued.status == "queued" and "HRE-TITLE" in Reply.from_dict(queued.payload).text
    # A language the notice is not for: it is not sent to them.
    await pipeline.handle(message("/lang sed", sender="s4", channel="telegram"))
    assert ((await row()).status, (await row()).reason) == ("failed", "unsubscribed")
