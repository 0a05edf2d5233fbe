"""Done when, issue 11 (reports and feedback), in Chromium on a phone-sized screen: an officer
files a report and a citizen files feedback over Telegram (the fake Bot API, the channel wired
as production wires it: adapter, inbound worker, sender, outbox dispatcher); a province staff
member logs in, filters the reports, opens the officer's, exports the filtered table as CSV,
opens the feedback and changes its status with a reply; the citizen's Telegram chat receives
the notice, sent by the running dispatcher. Screenshots in var/screenshots."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build_pipeline
from bot.storage.models import Feedback, Report
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.feedback.test_channels import case_officer_files_a_report
from tests.flows.forms.test_channels import TelegramDriver
from tests.staff.conftest import screenshot_path

CODE_RE = re.compile(r"Mã theo dõi: ([A-Z0-9]{4}-[A-Z0-9]{4})")


@pytest.fixture
def settings(settings):
    """A test types a whole form in a second; people do not (limits.flood_messages)."""
    limits = dataclasses.replace(settings.limits, flood_messages=10_000)
    return dataclasses.replace(settings, limits=limits)


async def citizen_files_feedback(d: Any) -> str:
    await d.text("/lang vi")
    said = "\n".join(await d.text("/phananh"))
    assert "Bạn có đồng ý không?" in said
    said = "\n".join(await d.text("đồng ý"))
    assert "Bạn muốn phản ánh về việc gì?" in said
    said = "\n".join(await d.press(3))  # Chất lượng công trình
    said = "\n".join(await d.text("Bồn nước thôn tôi bị rò từ tháng trước"))
    assert "Gửi một ảnh (nếu có)." in said
    await d.text("bỏ qua")  # no photo
    await d.text("bỏ qua")  # no place
    said = "\n".join(await d.text("bỏ qua"))  # no phone
    said = "\n".join(await d.text("gửi"))
    found = CODE_RE.search(said)
    assert found, said
    return found.group(1)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_staff_review_in_a_phone_browser_reaches_telegram(
    app_parts, settings, staff_server, make_staff, phone, tmp_path
):
    services, engine, _ = app_parts
    async with FakeTelegramAPI() as api:
        d = TelegramDriver((services, engine, build_pipeline(services)), settings, api)
        await d.start()
        try:
            await case_officer_files_a_report(d, services)
            officer_chat = d.chat
            d.chat = citizen_chat = officer_chat + 1
            code = await citizen_files_feedback(d)
            async with services.sessionmaker() as session:
                [report] = (await session.execute(select(Report))).scalars().all()
                [fb] = (await session.execute(select(Feedback))).scalars().all()
            assert fb.channel == "telegram"

            staff = await make_staff("province")
            page = phone
            missing: list[str] = []
            page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
            base = str(staff_server.make_url("/staff"))
            await page.goto(base + "/login")
            await page.fill("input[name=name]", staff.name)
            await page.fill("input[name=password]", staff.password)
            await page.click("form button[type=submit]")
            await page.wait_for_url(base + "/")

            # the reports, filtered by commune and project; the officer's report opened
            await page.goto(base + "/reports")
            await page.select_option("#f-area", "qng.ba_dong")
            await page.select_option("#f-project", "1")
            await page.click("form.filters button[type=submit]")
            await page.wait_for_url(re.compile(r".*area=qng\.ba_dong.*project=1.*"))
            assert f"#{report.id}" in await page.inner_text("#reports")
            assert "1 báo cáo" in await page.inner_text("#count")
            await page.screenshot(path=screenshot_path("staff-reports-list.png"), full_page=True)
            async with page.expect_download() as info:
                await page.click("a.button:text-is('CSV')")
            download = await info.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            assert saved.name.startswith("bao-cao-") and saved.suffix == ".csv"
            with open(saved, encoding="utf-8-sig") as file:
                rows = list(csv.reader(file))
            assert [r[0] for r in rows[1:]] == [str(report.id)]
            assert str(officer_chat) not in saved.read_text(encoding="utf-8-sig")
            await page.click(f"a[href='/staff/reports/{report.id}']")
            await page.wait_for_url(base + f"/reports/{report.id}")
            facts = await page.inner_text("dl.facts")
            assert "12 hộ" in facts and "xã Ba Động" in facts and "chờ kiểm tra" in facts
            await page.screenshot(path=screenshot_path("staff-report-detail.png"), full_page=True)
            await page.click("#mark-checked")
            await page.wait_for_selector("p.notice")
            assert "đã kiểm tra" in await page.inner_text("#state")

            # the feedback: a new status with a reply; the citizen is told on Telegram
            await page.goto(base + "/feedback")
            await page.click(f"text={code}")
            await page.wait_for_url(base + f"/feedback/{fb.id}")
            assert "Bồn nước thôn tôi bị rò" in await page.inner_text("#description")
            await page.select_option("#new-status", "in_progress")
            await page.fill("#status-reply", "Xã đã cử người xuống kiểm tra")
            await page.click("#change-status")
            await page.wait_for_selector("p.notice")
            assert "đang xử lý" in await page.inner_text("#status")
            await page.screenshot(path=screenshot_path("staff-feedback-detail.png"), full_page=True)
            notice = f"Phản ánh {code} của bạn: đang xử lý."
            async with asyncio.timeout(15):
                while not any(notice in t for t in api.texts(citizen_chat)):
                    await asyncio.sleep(0.05)
            [text] = [t for t in api.texts(citizen_chat) if notice in t]
            assert "Cán bộ trả lời: Xã đã cử người xuống kiểm tra" in text
            assert not any(notice in t for t in api.texts(officer_chat))
            # Every resource a page asked for was there (its responses are seen here), the
            # dashboard's icon included: no 404 in the console either.
            assert missing == []
            assert page.outside == [] and page.errors == [], page.errors
        finally:
            await d.close()
