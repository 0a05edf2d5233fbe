# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""Done when, issue 10: over the web chat, Telegram (fake Bot API, polling) and Zalo (fake API),
each wired as production wires it (adapter, inbound worker, sender, dispatcher), one table of
cases: an officer joins with an invite code and files a quick report in one line; a citizen files
feedback with a photo and gets a tracking code, asks its status by typing the code; a status
change made outside any turn (what `python -m bot feedback set-status` does) reaches them through
the running bot's outbox dispatcher (Telegram and Zalo push; the web chat has no push channel:
its test reads the status back with the code)."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import officers
from bot.app import build_pipeline
from bot.reports.cli import set_status
from bot.storage.models import Feedback, Report
from tests.channels.conftest_zalo import zalo_api  # noqa: F401
from tests.fakes.telegram_api import FakeTelegramAPI, sample_jpeg
from tests.flows.forms.test_channels import TelegramDriver, WebDriver, ZaloDriver

_ids = itertools.count(9_100_000_001)
CODE_RE = re.compile(r"Mã theo dõi: ([A-Z0-9]{4}-[A-Z0-9]{4})")


class WebPhotoDriver(WebDriver):
    """The web chat, its photos through `POST /api/uploads`."""

    media = True

    async def photo(self) -> list[str]:
        from bot.messages import Reply, render_numbered

        url = self.server.make_url(f"/api/uploads?message_id=up{next(_ids)}&lang=vi")
        body = sample_jpeg()
        async with self.session.post(url, data=body, headers={"Content-Type": "image/jpeg"}) as r:
            got = await r.json()
            assert r.status == 200, got
        self.buttons = [b["payload"] for x in got["replies"] for b in x.get("buttons", [])]
        return [render_numbered(Reply.from_dict(x)) for x in got["replies"]]


@pytest.fixture(params=["web", "telegram", "zalo"])
async def driver(request, app_parts, settings, zalo_api: Any) -> AsyncIterator[Any]:
    services, engine, _ = app_parts
    parts = (services, engine, build_pipeline(services))
    if request.param == "telegram":
        async with FakeTelegramAPI() as api:
            d: Any = TelegramDriver(parts, settings, api)
            await d.start()
            try:
                yield d
            finally:
                await d.close()
        return
    d = WebPhotoDriver(parts) if request.param == "web" else ZaloDriver(parts, zalo_api)
    await d.start()
    try:
        yield d
    finally:
        await d.close()


def pushed(d: Any) -> list[str]:
    """Everything the bot sent this driver's user (push channels)."""
    if isinstance(d, TelegramDriver):
        return d.api.texts(d.chat)
    return d.fake.texts(d.user)


async def case_officer_files_a_report(d: Any, services: Any) -> None:
    async with services.sessionmaker() as s:
        made = await officers.make_invite(s, services.settings, "qng.ba_dong", timedelta(days=1))
        await s.commit()
    said = "\n".join(await d.text(f"/macanbo {officers.show(made.code)}"))
    assert "Bạn có đồng ý không?" in said
    said = "\n".join(await d.text("đồng ý"))
    assert "Chào cán bộ! Bạn đã được gắn với xã Ba Động." in said
    said = "\n".join(await d.text("bc du an 1 nha o 12 ho thang 11"))
    assert "Kiểm tra lại Báo cáo nhanh tiến độ:" in said and "- Số lượng: 12 hộ" in said
    said = "\n".join(await d.text("gửi"))
    assert "Đã nhận báo cáo #" in said
    async with services.sessionmaker() as s:
        [r] = (await s.execute(select(Report))).scalars().all()
    assert (r.indicator, r.value, r.area_code, r.officer_role) == (
        "p1_nha_o",
        12,
        "qng.ba_dong",
        "officer",
    )


async def case_citizen_files_feedback_and_is_told(d: Any, services: Any) -> None:
    said = "\n".join(await d.text("/lang vi"))
    said = "\n".join(await d.text("/phananh"))
    assert "Bạn có đồng ý không?" in said
    said = "\n".join(await d.text("đồng ý"))
    assert "Bạn muốn phản ánh về việc gì?" in said
    said = "\n".join(await d.press(3))  # Chất lượng công trình
    assert "Bạn kể rõ sự việc" in said
    said = "\n".join(await d.text("Bồn nước thôn tôi bị rò từ tháng trước"))
    assert "Gửi một ảnh (nếu có)." in said
    said = "\n".join(await d.photo())
    assert "Gửi vị trí nơi xảy ra sự việc" in said, said
    said = "\n".join(await d.text("bỏ qua"))
    said = "\n".join(await d.text("0905 123 456"))
    assert "- Ảnh: đã gửi ảnh" in said and "- Số điện thoại liên hệ: 0905123456" in said
    said = "\n".join(await d.text("gửi"))
    m = CODE_RE.search(said)
    assert m, said
    code = m.group(1)
    async with services.sessionmaker() as s:
        [fb] = (await s.execute(select(Feedback))).scalars().all()
    assert fb.photo_ref and fb.phone == "0905123456" and fb.category == "cong_trinh"
    said = "\n".join(await d.text(code.lower().replace("-", "")))  # the code typed alone
    assert f"Phản ánh {code}" in said and "Tình trạng: đã gửi, chờ tiếp nhận." in said
    # staff change the status outside any turn (as the CLI does, in its own transaction)
    async with services.sessionmaker() as s:
        await set_status(
            s, services.catalogs.for_lang, code, "in_progress", reply="Đã cử người xuống"
        )
        await s.commit()
    if isinstance(d, WebDriver):  # no push on the web chat: the status, asked again
        said = "\n".join(await d.text(f"/theodoi {code}"))
        assert "Tình trạng: đang xử lý." in said and "Cán bộ trả lời: Đã cử người xuống" in said
        return
    notice = f"Phản ánh {code} của bạn: đang xử lý."
    async with asyncio.timeout(10):
        while not any(notice in t for t in pushed(d)):
            await asyncio.sleep(0.05)
    [text] = [t for t in pushed(d) if notice in t]
    assert "Cán bộ trả lời: Đã cử người xuống" in text


CASES = [case_officer_files_a_report, case_citizen_files_feedback_and_is_told]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("case_"))
async def test_done_when(driver: Any, case: Any, services: Any) -> None:
    await case(driver, services)
