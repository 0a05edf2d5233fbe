"""Subscribing and stopping notices, and what "my data" shows of them."""

from __future__ import annotations

from bot.storage.models import Subscription
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
