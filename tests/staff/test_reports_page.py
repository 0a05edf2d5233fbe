"""The reports page (bot/staff/pages/reports.py) on SQLite and PostgreSQL: filters, sort, keyset
paging, a commune account's subtree, the detail view (photo for logged-in staff only, map link,
history), marking checked, and sending back: the officer is told in the chat, in their language,
and can then correct the report whatever its age."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.staff.pages import reports as page
from bot.storage.models import AuditEntry, Report, ReportHistory
from tests.conftest import all_text, message
from tests.reports.conftest import make_officer as join_as_officer
from tests.staff.review_data import (
    BA_DONG,
    BA_TO,
    LANG_TENG,
    days_ago,
    jpeg_bytes,
    make_officer,
    make_report,
    outbox_rows,
    store_photo,
)

IDS = re.compile(r'href="/staff/reports/(\d+)"')


def ids_in(html: str) -> list[int]:
    return [int(x) for x in IDS.findall(html)]


async def get(client, path: str, **params):
    response = await client.get(path, params=params, allow_redirects=False)
    return response.status, await response.text()


async def seed(services):
    a = await make_officer(services, BA_DONG, name="Hà Văn A")
    b = await make_officer(services, BA_TO, name="Đinh Thị B")
    ids = {
        "a1": await make_report(services, a, period="2026-10", value=5, created_at=days_ago(5)),
        "a2": await make_report(services, a, area_code=LANG_TENG, value=40, created_at=days_ago(4)),
        "a3": await make_report(
            services, a, period="2026-Q4", value=7, indicator="p1_nuoc", created_at=days_ago(3)
        ),
        "b1": await make_report(
            services, b, project=3, indicator="p3_rung", value=1, created_at=days_ago(2)
        ),
        "b2": await make_report(
            services, b, project=3, indicator="p3_san_xuat", period="2025-12", value=99
        ),
    }
    return a, b, ids


async def test_filters_sort_and_bad_input(staff_client, make_staff, login, services):
    a, b, ids = await seed(services)
    client = await login(staff_client, await make_staff("province"))
    status, html = await get(client, "/staff/reports")
    assert status == 200
    assert ids_in(html) == [ids[k] for k in ("b2", "b1", "a3", "a2", "a1")]  # newest first
    assert "5 báo cáo" in html and "Hà Văn A" in html
    cases = [
        ({"area": BA_DONG}, ["a3", "a2", "a1"]),  # the commune and its village
        ({"area": LANG_TENG}, ["a2"]),
        ({"area": BA_TO}, ["b2", "b1"]),
        ({"project": "3"}, ["b2", "b1"]),
        ({"indicator": "p1_nuoc"}, ["a3"]),
        ({"period": "2026-11"}, ["b1", "a2"]),
        ({"period": "2026"}, ["b1", "a3", "a2", "a1"]),  # a year: its months and quarters too
        ({"period": "2026-q4"}, ["a3"]),
        ({"officer": str(b.id)}, ["b2", "b1"]),
        ({"state": "pending"}, ["b2", "b1", "a3", "a2", "a1"]),
        ({"state": "checked"}, []),
        ({"sort": "value", "order": "asc"}, ["b1", "a1", "a3", "a2", "b2"]),
        ({"sort": "period", "order": "asc"}, ["b2", "a1", "a2", "b1", "a3"]),
        ({"area": BA_DONG, "sort": "value", "order": "desc"}, ["a2", "a3", "a1"]),
    ]
    for params, expected in cases:
        status, html = await get(client, "/staff/reports", **params)
        assert status == 200, params
        assert ids_in(html) == [ids[k] for k in expected], params
    for params, says in [
        ({"period": "tháng 11"}, "Kỳ: nhập 2026"),
        ({"area": "qng.nowhere"}, "Địa bàn: chọn một địa bàn"),
        ({"project": "abc"}, "Dự án: nhập một số"),
        ({"indicator": "x' OR 1=1"}, "Chỉ tiêu: chọn"),
        ({"state": "lost"}, "Tình trạng: chọn"),
        ({"sort": "officer_id; drop"}, "Sắp xếp: chọn"),
        ({"after": "not-a-cursor"}, "Liên kết trang đã cũ"),
    ]:
        status, html = await get(client, "/staff/reports", **params)
        assert status == 400 and says in html, params
        assert "Traceback" not in html
    assert (await get(client, "/staff/reports/999999"))[0] == 404


async def test_keyset_paging_walks_every_row_once(
    staff_client, make_staff, login, services, monkeypatch
):
    officer = await make_officer(services)
    base = datetime.now(UTC) - timedelta(days=10)
    made = [
        await make_report(services, officer, value=i % 3, created_at=base + timedelta(hours=i))
        for i in range(7)
    ]
    monkeypatch.setattr(page, "PAGE", 3)
    client = await login(staff_client, await make_staff("admin"))
    for params, expected in [
        ({}, made[::-1]),
        ({"sort": "value", "order": "asc"}, sorted(made, key=lambda i: (made.index(i) % 3, i))),
    ]:
        seen, url = [], "/staff/reports"
        status, html = await get(client, url, **params)
        pages = []
        while True:
            pages.append(ids_in(html))
            seen += ids_in(html)
            found = re.search(r'href="([^"]+)" rel="next"', html)
            if not found:
                break
            status, html = await get(client, found.group(1).replace("&amp;", "&"))
            assert status == 200
        assert seen == expected and [len(p) for p in pages] == [3, 3, 1]
        # and back: "previous" from the last page gives the middle one
        prev = re.search(r'href="([^"]+)" rel="prev"', html).group(1).replace("&amp;", "&")
        status, html = await get(client, prev)
        assert ids_in(html) == pages[1]
        assert 'rel="prev"' in html and 'rel="next"' in html


async def test_a_commune_account_sees_only_its_subtree(
    new_client, staff_client, make_staff, login, services, assert_refused, post_form
):
    _a, _b, ids = await seed(services)
    commune = await login(staff_client, await make_staff("commune", BA_DONG))
    status, html = await get(commune, "/staff/reports")
    assert status == 200 and ids_in(html) == [ids["a3"], ids["a2"], ids["a1"]]
    assert "Đinh Thị B" not in html  # nor the other commune's officers in the filter
    assert ids_in((await get(commune, "/staff/reports", project="3"))[1]) == []
    await assert_refused(commune, "GET", f"/staff/reports/{ids['b1']}")
    await assert_refused(commune, "GET", f"/staff/reports/{ids['b1']}/photo")
    await assert_refused(commune, "GET", "/staff/reports", params={"area": BA_TO})
    response = await post_form(
        commune, f"/staff/reports/{ids['b1']}/review", {"verdict": "checked"}, "/staff/reports"
    )
    assert response.status == 403
    async with services.sessionmaker() as session:
        assert (await session.get(Report, ids["b1"])).review == "pending"
    status, html = await get(commune, f"/staff/reports/{ids['a2']}")
    assert status == 200 and "Làng Teng" in html
    # an account of a village sees that village only
    village = await login(await new_client(), await make_staff("commune", LANG_TENG))
    assert ids_in((await get(village, "/staff/reports"))[1]) == [ids["a2"]]


async def test_detail_photo_map_and_history(new_client, staff_client, make_staff, login, services):
    officer = await make_officer(services, name="Hà Văn A")
    data = jpeg_bytes("blue")
    ref = store_photo(services, data)
    rid = await make_report(
        services, officer, photo_ref=ref, latitude=14.7, longitude=108.6, note="Thôn 2"
    )
    async with services.writing() as session:
        r = await session.get(Report, rid)
        from bot.storage.repositories import reports as repo

        await repo.correct(session, r, {"value": 15.0}, officer.id, "officer")
        await session.commit()
    client = await login(staff_client, await make_staff("province"))
    status, html = await get(client, f"/staff/reports/{rid}")
    assert status == 200
    assert f'src="/staff/reports/{rid}/photo"' in html
    assert "https://www.openstreetmap.org/?mlat=14.700000&amp;mlon=108.600000" in html
    assert "cán bộ sửa" in html and "giá trị: 12.0 → 15.0" in html
    assert "Thôn 2" in html and "(đã sửa, phiên bản 2)" in html
    photo = await client.get(f"/staff/reports/{rid}/photo")
    assert photo.status == 200 and await photo.read() == data
    assert photo.headers["Content-Type"] == "image/jpeg"
    assert "no-store" in photo.headers["Cache-Control"]
    # not logged in: the login page, never the photo
    anonymous = await new_client()
    response = await anonymous.get(f"/staff/reports/{rid}/photo", allow_redirects=False)
    assert response.status in (302, 303) and "/staff/login" in response.headers["Location"]
    assert data not in await response.read()
    # a report without a photo: 404, a clear text
    other = await make_report(services, officer)
    response = await client.get(f"/staff/reports/{other}/photo")
    assert response.status == 404


async def test_mark_checked_and_refuse_bad_reviews(
    staff_client, make_staff, login, services, post_form
):
    officer = await make_officer(services)
    rid = await make_report(services, officer)
    staff = await make_staff("province")
    client = await login(staff_client, staff)
    detail = f"/staff/reports/{rid}"
    response = await post_form(client, f"{detail}/review", {"verdict": "checked"}, detail)
    assert response.status == 303 and response.headers["Location"] == f"{detail}?done=checked"
    status, html = await get(client, detail, done="checked")
    assert "Đã đánh dấu đã kiểm tra." in html and "đã kiểm tra" in html
    async with services.sessionmaker() as session:
        r = await session.get(Report, rid)
        assert (r.review, r.reviewed_by) == ("checked", staff.id)
        [h] = (await session.execute(select(ReportHistory))).scalars().all()
        assert (h.action, h.changed_by_role, h.changed_by_staff) == ("checked", "staff", staff.id)
        [entry] = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "report.checked")))
            .scalars()
            .all()
        )
        assert (entry.staff_name, entry.target) == (staff.name, f"report:{rid}")
    assert await outbox_rows(services, officer.external_id) == []  # checked: nobody is told
    # sending back without a comment, an unknown verdict, no CSRF token: refused, nothing kept
    for data in ({"verdict": "sent_back", "comment": "  "}, {"verdict": "deleted"}):
        response = await post_form(client, f"{detail}/review", data, detail)
        assert response.status == 400
    response = await client.post(f"{detail}/review", data={"verdict": "checked"})
    assert response.status == 403
    async with services.sessionmaker() as session:
        assert len((await session.execute(select(ReportHistory))).scalars().all()) == 1
    # a withdrawn report is not reviewed
    async with services.writing() as session:
        await session.execute(update(Report).where(Report.id == rid).values(status="withdrawn"))
        await session.commit()
    response = await post_form(client, f"{detail}/review", {"verdict": "checked"}, "/staff/")
    assert response.status == 409


@pytest.mark.parametrize("locale", ["vi", "hre"])
async def test_send_back_tells_the_officer_who_corrects_it_after_the_window(
    staff_client, make_staff, login, services, pipeline, post_form, monkeypatch, locale
):
    """Through the chat: the officer joined and filed; three days later (past the 48-hour
    window) staff send it back; the officer is told in their language, with a button, and the
    correction is accepted; the report waits for a new check."""
    await join_as_officer(pipeline, services, "o1")
    turn = await pipeline.handle(message("bc da1 nha o 12 ho thang 11", sender="o1"))
    assert "Kiểm tra lại" in all_text(turn)
    assert "Đã nhận báo cáo #" in all_text(await pipeline.handle(message("gửi", sender="o1")))
    async with services.writing() as session:
        [r] = (await session.execute(select(Report))).scalars().all()
        rid = r.id
        r.created_at = datetime.now(UTC) - timedelta(days=3)
        from bot.storage.models import User

        officer = await session.get(User, r.officer_id)
        officer.locale = locale
        await session.commit()
    asked: list[str] = []
    real = services.catalogs.for_lang
    monkeypatch.setattr(
        services.catalogs, "for_lang", lambda lang: asked.append(lang) or real(lang)
    )
    before = len(await outbox_rows(services, "o1"))
    client = await login(staff_client, await make_staff("commune", BA_DONG))
    detail = f"/staff/reports/{rid}"
    response = await post_form(
        client, f"{detail}/review", {"verdict": "sent_back", "comment": "Số hộ là 21"}, detail
    )
    assert response.status == 303 and response.headers["Location"].endswith("done=sent_back")
    rows = (await outbox_rows(services, "o1"))[before:]
    assert len(rows) == 1 and rows[0].source == "report" and rows[0].channel == "web"
    assert f"Báo cáo #{rid} (kỳ 2026-11) được gửi lại" in rows[0].payload["text"]
    assert "Số hộ là 21" in rows[0].payload["text"]
    assert rows[0].payload["buttons"][0]["payload"] == f"/baocaocuatoi sua {rid}"
    assert asked[0] == locale  # (a language without the string falls back to vi)
    async with services.sessionmaker() as session:
        audit = (
            await session.execute(select(AuditEntry).where(AuditEntry.action == "report.sent_back"))
        ).scalar_one()
        assert audit.detail == {"notified": True}
    # the officer corrects it, although the edit window has passed
    turn = await pipeline.handle(message(payload=f"/baocaocuatoi sua {rid}", sender="o1"))
    assert f"Sửa báo cáo #{rid}" in all_text(turn)
    await pipeline.handle(message("sửa", sender="o1"))
    await pipeline.handle(message(payload="/form f value", sender="o1"))
    await pipeline.handle(message("21", sender="o1"))
    done = all_text(await pipeline.handle(message("gửi", sender="o1")))
    assert f"Đã sửa báo cáo #{rid}" in done
    async with services.sessionmaker() as session:
        r = await session.get(Report, rid)
        assert (r.value, r.review, r.version) == (21, "pending", 2)
        actions = [
            (h.action, h.new_values.get("review"))
            for h in (
                await session.execute(select(ReportHistory).order_by(ReportHistory.id))
            ).scalars()
        ]
        assert actions == [("sent_back", "sent_back"), ("corrected", "pending")]
    # once corrected, the window applies again
    turn = await pipeline.handle(message(payload=f"/baocaocuatoi sua {rid}", sender="o1"))
    assert "không sửa, rút được nữa" in all_text(turn)
