"""Report and feedback exports (CSV, XLSX, JSON) with the page's filters: formulas never run,
nothing of a chat id, phone number or exact place in the file, a commune account's export
limited to its area, each export an audit entry."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from sqlalchemy import select

from bot.staff.pages import feedback as feedback_page
from bot.staff.pages import reports as reports_page
from bot.storage.models import AuditEntry
from tests.staff.review_data import (
    BA_DONG,
    BA_TO,
    LANG_TENG,
    make_feedback,
    make_officer,
    make_report,
    make_user,
    store_photo,
)

FORMULA = '=HYPERLINK("http://evil.invalid","bấm")'
PHONE = "0912345678"


def table(fmt: str, body: bytes) -> list[list]:
    if fmt == "csv":
        assert body.startswith(b"\xef\xbb\xbf")
        return [list(r) for r in csv.reader(io.StringIO(body.decode("utf-8-sig")))]
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(body)).active
        assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
        return [[c.value for c in row] for row in sheet.iter_rows()]
    data = json.loads(body)
    if not data:
        return []
    return [list(data[0])] + [list(item.values()) for item in data]


async def download(client, path: str, **params) -> tuple[int, bytes, dict]:
    response = await client.get(path, params=params, allow_redirects=False)
    return response.status, await response.read(), dict(response.headers)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
async def test_report_export_follows_the_filters_and_neutralises_formulas(
    staff_client, make_staff, login, services, fmt
):
    a = await make_officer(services, BA_DONG, external_id="chat-777001", name="Hà Văn A")
    b = await make_officer(services, BA_TO, external_id="chat-777002")
    ref = store_photo(services)
    one = await make_report(
        services, a, note=FORMULA, photo_ref=ref, latitude=14.123456, longitude=108.654321
    )
    two = await make_report(services, a, area_code=LANG_TENG, value=3.5)
    await make_report(services, b, project=3, indicator="p3_rung")
    staff = await make_staff("province")
    client = await login(staff_client, staff)
    status, body, headers = await download(
        client, "/staff/reports/export", format=fmt, area=BA_DONG, sort="created", order="asc"
    )
    assert status == 200
    assert headers["Content-Disposition"].startswith('attachment; filename="bao-cao-')
    assert headers["Content-Disposition"].endswith(f'.{fmt}"')
    rows = table(fmt, body)
    assert rows[0] == list(reports_page.EXPORT_HEADER)
    assert [r[0] for r in rows[1:]] == ([str(one), str(two)] if fmt == "csv" else [one, two])
    note = rows[1][rows[0].index("ghi chú")]
    if fmt == "json":
        assert note == FORMULA  # JSON is data, not a spreadsheet
    else:
        assert note == "'" + FORMULA
    values = [r[rows[0].index("giá trị")] for r in rows[1:]]
    assert values == (["12.0", "3.5"] if fmt == "csv" else [12, 3.5])
    assert rows[1][rows[0].index("có ảnh")] == "có" and rows[1][rows[0].index("có vị trí")] == "có"
    assert rows[1][rows[0].index("cán bộ")] == f"Hà Văn A (#{a.id})"
    text = body.decode("utf-8", "replace") if fmt != "xlsx" else str(rows)
    for secret in ("chat-777001", "chat-777002", "14.123456", "108.654321", "14.12", ref):
        assert secret not in text, secret
    async with services.sessionmaker() as session:
        entry = (
            await session.execute(select(AuditEntry).where(AuditEntry.action == "reports.export"))
        ).scalar_one()
    assert entry.staff_name == staff.name
    assert entry.detail == {
        "format": fmt,
        "filters": {"area": BA_DONG, "sort": "created", "order": "asc"},
    }


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
async def test_feedback_export_never_holds_phone_or_chat_id(
    staff_client, make_staff, login, services, fmt
):
    citizen = await make_user(services, external_id="chat-888001")
    fid, code = await make_feedback(
        services,
        citizen,
        description="+1 gọi cho tôi " + PHONE,
        phone=PHONE,
        latitude=14.987654,
        longitude=108.123987,
    )
    await make_feedback(services, citizen, category="chinh_sach")
    client = await login(staff_client, await make_staff("admin"))
    status, body, _ = await download(
        client, "/staff/feedback/export", format=fmt, category="cong_trinh"
    )
    assert status == 200
    rows = table(fmt, body)
    assert rows[0] == list(feedback_page.EXPORT_HEADER)
    assert len(rows) == 2 and rows[1][0] == f"{code[:4]}-{code[4:]}"
    description = rows[1][rows[0].index("nội dung")]
    # what the citizen wrote is kept (staff read it on the page), as text
    assert description == ("" if fmt == "json" else "'") + "+1 gọi cho tôi " + PHONE
    assert rows[1][rows[0].index("có vị trí")] == "có"
    text = body.decode("utf-8", "replace") if fmt != "xlsx" else str(rows)
    for secret in ("chat-888001", "14.987654", "108.123987"):
        assert secret not in text, secret
    # the contact phone column does not exist; the number appears only in the citizen's words
    assert text.count(PHONE) == 1
    assert "phone" not in " ".join(str(h) for h in rows[0]).lower()
    assert fid


async def test_a_commune_export_holds_only_its_area(
    staff_client, make_staff, login, services, assert_refused
):
    a = await make_officer(services, BA_DONG)
    b = await make_officer(services, BA_TO)
    mine = await make_report(services, a)
    await make_report(services, b)
    client = await login(staff_client, await make_staff("commune", BA_DONG))
    status, body, _ = await download(client, "/staff/reports/export", format="csv")
    rows = table("csv", body)
    assert status == 200 and [r[0] for r in rows[1:]] == [str(mine)]
    await assert_refused(
        client, "GET", "/staff/reports/export", params={"format": "csv", "area": BA_TO}
    )
    status, body, _ = await download(client, "/staff/feedback/export", format="json")
    assert status == 200 and json.loads(body) == []


async def test_bad_export_requests(new_client, staff_client, make_staff, login, services):
    client = await login(staff_client, await make_staff("province"))
    for path, bad in (
        ("/staff/reports/export", {"period": "last year"}),
        ("/staff/feedback/export", {"code": "abc"}),
    ):
        for params in ({"format": "pdf"}, {}, {"format": "csv", **bad}):
            status, body, _ = await download(client, path, **params)
            assert status == 400, (path, params)
            assert b"Traceback" not in body
    anonymous = await new_client()
    response = await anonymous.get("/staff/reports/export?format=csv", allow_redirects=False)
    assert response.status in (302, 303)
    async with services.sessionmaker() as session:
        exported = await session.execute(
            select(AuditEntry).where(AuditEntry.action.like("%.export"))
        )
        assert exported.scalars().all() == []  # a refused export is not an export
