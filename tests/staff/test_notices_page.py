"""The dashboard's notices page: compose with a preview, send, follow the progress (the JSON the
page polls), the final report by state and reason, cancel, the attendee export; a commune
account limited to its area; bad input a short message, never a 5xx."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from bot.storage.models import Notice, OutboxEntry
from bot.storage.repositories import notices as repo
from tests.notices.conftest import person

COMMUNE = "qng.ba_dong"

FORM = {
    "title_vi": "Tập huấn trồng keo",
    "body_vi": "Mời bà con thôn đến dự.",
    "title_hre": "HRE-TITLE",
    "body_hre": "HRE-BODY",
    "topic": "tap_huan",
    "area": COMMUNE,
    "date": "15/12/2030",
    "time": "08:00",
    "place": "Nhà văn hóa",
    "rsvp": "1",
}


async def people(services):
    async with services.sessionmaker() as s:
        made = [
            await person(s, lang="hre", area=COMMUNE, topics=["tap_huan"]),
            await person(s, lang="vi", area=COMMUNE + ".lang_teng", channel="zalo"),
            await person(s, lang="vi", area="qng.ba_vinh"),
        ]
        await s.commit()
    return made


async def test_preview_then_send_then_progress_and_cancel(
    staff_client, make_staff, login, post_form, services
):
    await people(services)
    client = await login(staff_client, await make_staff("province"))
    page = await client.get("/staff/notices/new")
    assert page.status == 200 and "Soạn thông báo" in await page.text()
    r = await post_form(client, "/staff/notices/new", {**FORM, "action": "preview"})
    text = await r.text()
    assert r.status == 200 and "Xem trước: 2 người nhận" in text
    assert (
        "HRE-BODY" in text
        and "1. Tôi sẽ tham gia" in text
        and "Thời gian: 15/12/2030 08:00" in text
    )
    async with services.sessionmaker() as s:
        assert await s.scalar(select(Notice.id)) is None  # a preview stores nothing
    r = await post_form(client, "/staff/notices/new", {**FORM, "action": "send"})
    assert r.status == 303
    where = r.headers["Location"]
    nid = int(where.rsplit("/", 1)[1])
    page = await client.get(where)
    text = await page.text()
    assert page.status == 200 and "Tiến độ" in text and "notices.js" in text
    got = await (await client.get(f"/staff/notices/{nid}/progress.json")).json()
    assert got["recipients"] == 2 and got["remaining"] == 2 and got["sent"] == 0
    async with services.sessionmaker() as s:
        row = await s.scalar(select(OutboxEntry).where(OutboxEntry.notice_id == nid).limit(1))
        row.status = "sent"
        await s.commit()
    got = await (await client.get(f"/staff/notices/{nid}/progress.json")).json()
    assert got["sent"] == 1 and got["remaining"] == 1
    r = await post_form(client, f"/staff/notices/{nid}/cancel", {}, page=where)
    assert r.status == 303
    text = await (await client.get(r.headers["Location"])).text()
    assert "Đã hủy" in text and "Không gửi được, vì sao" in text and "đã hủy" in text
    got = await (await client.get(f"/staff/notices/{nid}/progress.json")).json()
    assert got["status"] == "cancelled" and got["failed_by_reason"] == {"cancelled": 1}
    listing = await (await client.get("/staff/notices")).text()
    assert f"#{nid}" in listing and "Tập huấn trồng keo" in listing


async def test_bad_input_is_a_short_message(staff_client, make_staff, login, post_form, services):
    client = await login(staff_client, await make_staff("admin"))
    cases = [
        ({"body_vi": ""}, "Thiếu nội dung tiếng Việt"),
        ({"area": "qng.nowhere"}, "Địa bàn không có: qng.nowhere"),
        ({"topic": "nope"}, "Chủ đề không có: nope"),
        ({"at": "2020-01-01T08:00"}, "đã qua"),
        ({"at": "không rõ"}, "Giờ gửi không đọc được"),
        ({"lang": "xx"}, "Ngôn ngữ không có: xx"),
        ({"link": "ftp://x"}, "https://"),
    ]
    for change, said in cases:
        r = await post_form(client, "/staff/notices/new", {**FORM, **change, "action": "send"})
        assert r.status == 400 and said in await r.text(), change
    async with services.sessionmaker() as s:
        assert await s.scalar(select(Notice.id)) is None


async def test_a_commune_account_only_its_area(
    staff_client, new_client, make_staff, login, post_form, assert_refused, services
):
    await people(services)
    commune = await login(staff_client, await make_staff("commune", COMMUNE))
    r = await post_form(
        commune, "/staff/notices/new", {**FORM, "area": "qng.ba_vinh", "action": "send"}
    )
    assert r.status == 400 and "chỉ gửi được cho địa bàn của mình" in await r.text()
    form = {k: v for k, v in FORM.items() if k != "area"}
    r = await post_form(commune, "/staff/notices/new", {**form, "action": "send"})
    assert r.status == 303  # no area named: its whole area
    nid = int(r.headers["Location"].rsplit("/", 1)[1])
    async with services.sessionmaker() as s:
        assert (await repo.get(s, nid)).areas == [COMMUNE]
    province = await login(await new_client(), await make_staff("province"))
    r = await post_form(
        province, "/staff/notices/new", {**FORM, "area": "qng.ba_vinh", "action": "send"}
    )
    other = int(r.headers["Location"].rsplit("/", 1)[1])
    await assert_refused(commune, "GET", f"/staff/notices/{other}")
    await assert_refused(commune, "GET", f"/staff/notices/{other}/progress.json")
    await assert_refused(commune, "GET", f"/staff/notices/{other}/attendees?format=csv")
    assert f"#{other}" not in await (await commune.get("/staff/notices")).text()


async def test_attendee_export_is_formula_safe(
    staff_client, make_staff, login, post_form, services
):
    [hre, zalo, _] = await people(services)
    client = await login(staff_client, await make_staff("admin"))
    r = await post_form(client, "/staff/notices/new", {**FORM, "action": "send"})
    nid = int(r.headers["Location"].rsplit("/", 1)[1])
    async with services.sessionmaker() as s:
        for u, name in ((hre, "=cmd|' /C calc'!A0"), (zalo, "Hà Thị B")):
            await repo.answer(s, nid, u.id, u.channel, True)
            (await s.get(type(u), u.id)).display_name = name
        await s.commit()
    r = await client.get(f"/staff/notices/{nid}/attendees?format=csv")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert sorted(row[3] for row in rows[1:]) == ["'=cmd|' /C calc'!A0", "Hà Thị B"]
    r = await client.get(f"/staff/notices/{nid}/attendees?format=pdf")
    assert r.status == 400


async def test_live_progress_on_a_phone(staff_server, make_staff, services, phone, db_url):
    """The notice page's numbers follow the sending without a reload (notices.js polling the
    JSON), under the app's Content-Security-Policy, nothing fetched from outside; 360 px wide."""
    if not db_url.startswith("sqlite"):
        return  # the browser part once is enough
    from playwright.async_api import expect

    from tests.staff.conftest import screenshot_path

    await people(services)
    admin = await make_staff("admin")
    missing: list[str] = []
    phone.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    base = str(staff_server.make_url("/staff/login"))
    await phone.goto(base)
    await phone.fill("#name", admin.name)
    await phone.fill("#password", admin.password)
    await phone.click("button[type=submit]")
    await phone.goto(str(staff_server.make_url("/staff/notices/new")))
    await phone.fill("#title_vi", "Tập huấn trên điện thoại")
    await phone.fill("#body_vi", "Mời bà con.")
    await phone.select_option("#area", COMMUNE)
    await phone.click("button[value=send]")
    await phone.wait_for_selector("#progress")
    assert await phone.text_content('[data-field="sent"]') == "0"
    async with services.sessionmaker() as s:
        await s.execute(
            OutboxEntry.__table__.update()
            .where(OutboxEntry.notice_id.is_not(None))
            .values(status="sent")
        )
        await s.commit()
    sent = phone.locator('[data-field="sent"]')
    await expect(sent).to_have_text("2", timeout=10_000)  # no reload: the page polled the JSON
    assert await phone.text_content('[data-field="remaining"]') == "0"
    await expect(phone.locator('[data-field="status_label"]')).to_have_text(
        "đã gửi xong", timeout=10_000
    )
    # finished: the page reloads itself once for the final report, and the cancel button goes
    await expect(phone.locator("#by-state")).to_contain_text("đã gửi", timeout=10_000)
    await expect(phone.locator("button.danger")).to_have_count(0)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, width
    await phone.screenshot(path=screenshot_path("staff-notice-progress.png"), full_page=True)
    # no page resource failed; the browser's own favicon request (no icon here) may 404
    assert all(u.endswith("/favicon.ico") for u in missing), missing
    errors = [e for e in phone.errors if "status of 404" not in e]
    assert errors == [] and phone.outside == []
