"""The audit log: what is recorded (in the action's transaction), the read-only page with its
filters and keyset paging, and the export (CSV, XLSX, JSON) with the same filters."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select, update

from bot.staff import audit
from bot.staff.auth import StaffUser
from bot.storage.models import AuditEntry
from bot.storage.repositories import staff as repo
from tests.staff.conftest import csrf_from

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def _entries(services):
    async with services.sessionmaker() as s:
        return list((await s.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars())


async def test_record_is_in_the_callers_transaction(services, make_staff):
    admin = await make_staff("admin")
    staff = StaffUser(admin.id, admin.name, "admin", address="198.51.100.7")
    async with services.writing() as s:
        await audit.record(s, staff, "report.checked", target="report:1")
        await s.rollback()  # the action failed: no entry either
    assert await _entries(services) == []
    async with services.writing() as s:
        await audit.record(s, staff, "report.checked", target="report:1", detail={"n": 1})
        await s.commit()
    [entry] = await _entries(services)
    assert (entry.staff_id, entry.staff_name, entry.action, entry.target) == (
        admin.id,
        admin.name,
        "report.checked",
        "report:1",
    )
    assert entry.detail == {"n": 1} and entry.address == "198.51.100.7"


async def test_logins_logouts_and_account_changes_are_recorded(
    staff_client, make_staff, login, post_form, services
):
    admin = await make_staff("admin")
    token = await csrf_from(staff_client, "/staff/login")
    await staff_client.post(
        "/staff/login", data={"_csrf": token, "name": admin.name, "password": "not it at all"}
    )
    token = await csrf_from(staff_client, "/staff/login")
    await staff_client.post(
        "/staff/login", data={"_csrf": token, "name": "ghost", "password": "not it at all"}
    )
    await login(staff_client, admin)
    await post_form(
        staff_client,
        "/staff/accounts",
        {"name": "clerk1", "password": "đủ dài rồi đấy", "role": "province"},
        "/staff/accounts",
    )
    token = await csrf_from(staff_client, "/staff/")
    await staff_client.post("/staff/logout", data={"_csrf": token})
    got = [(e.action, e.staff_name, e.target) for e in await _entries(services)]
    assert got == [
        ("login.failed", admin.name, admin.name),
        ("login.failed", None, None),  # an unknown name: not stored (it may be a password)
        ("login", admin.name, admin.name),
        ("account.created", admin.name, "account:clerk1"),
        ("logout", admin.name, None),
    ]
    assert all(e.address == "127.0.0.1" for e in await _entries(services))
    assert not any("not it at all" in json.dumps(e.detail) for e in await _entries(services))


async def _fill(services, admin_id: int, n: int) -> None:
    async with services.writing() as s:
        for i in range(n):
            repo.add_audit(
                s,
                admin_id if i % 2 else None,
                "boss" if i % 2 else "clerk",
                "report.checked" if i % 3 else "feedback.status",
                f"item:{i}",
                {"i": i},
            )
        await s.commit()


async def test_the_page_filters_and_pages(staff_client, make_staff, login, services):
    admin = await make_staff("admin", name="boss")
    await _fill(services, admin.id, 130)
    await login(staff_client, admin)
    r = await staff_client.get("/staff/audit")
    text = await r.text()
    assert r.status == 200 and text.count("<tr>") == 51  # the header and a page of 50
    assert "item:129" in text and "item:79" not in text
    # Keyset paging: the next page follows without overlap, to the end.
    seen, url = [], "/staff/audit?action=report."
    while url:
        r = await staff_client.get(url)
        page = await r.text()
        seen += [int(x) for x in re.findall(r"<td>item:(\d+)</td>", page)]
        found = re.search(r'href="(/staff/audit\?[^"]*before=\d+)"', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == [i for i in range(129, -1, -1) if i % 3]
    r = await staff_client.get("/staff/audit?staff=clerk&action=feedback.status")
    rows = re.findall(r"<td>item:(\d+)</td>", await r.text())
    assert [int(x) for x in rows] == [i for i in range(129, -1, -1) if i % 2 == 0 and i % 3 == 0]
    # Dates: yesterday's entries are out of "since today".
    async with services.writing() as s:
        await s.execute(
            update(AuditEntry)
            .where(AuditEntry.target == "item:0")
            .values(at=repo.now() - timedelta(days=3))
        )
        await s.commit()
    today = repo.now().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    r = await staff_client.get(f"/staff/audit?target=item:0&since={today.isoformat()}")
    assert "<td>item:0</td>" not in await r.text()
    r = await staff_client.get(f"/staff/audit?target=item:0&until={today - timedelta(days=2)}")
    assert "<td>item:0</td>" in await r.text()
    r = await staff_client.get("/staff/audit?since=yesterday")
    assert r.status == 400 and "dạng 2026-12-01" in await r.text()


@SQLITE
async def test_the_page_is_read_only(staff_server):
    from tests.staff.test_auth import staff_routes

    audit_routes = [
        (m, p) for m, p in staff_routes(staff_server.app) if p.startswith("/staff/audit")
    ]
    assert audit_routes and all(m == "GET" for m, _ in audit_routes)


@SQLITE
async def test_only_admins_read_it(new_client, make_staff, login, assert_refused):
    clerk = await login(await new_client(), await make_staff("province"))
    await assert_refused(clerk, "GET", "/staff/audit")
    await assert_refused(clerk, "GET", "/staff/audit/export?format=csv")


async def test_export_with_the_filters_and_no_formulas(staff_client, make_staff, login, services):
    admin = await make_staff("admin", name="boss")
    await _fill(services, admin.id, 30)
    async with services.writing() as s:
        repo.add_audit(s, admin.id, "boss", "report.checked", '=HYPERLINK("x")', {"c": "@SUM"})
        await s.commit()
    await login(staff_client, admin)
    query = "staff=boss&action=report."
    r = await staff_client.get(f"/staff/audit/export?format=csv&{query}")
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    raw = await r.read()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["id", "thời gian", "tài khoản", "hành động"]
    expected = [i for i in range(29, -1, -1) if i % 2 and i % 3]
    assert [row[4] for row in body[1:]] == [f"item:{i}" for i in expected]
    assert body[0][4] == '\'=HYPERLINK("x")' and {row[2] for row in body} == {"boss"}
    r = await staff_client.get(f"/staff/audit/export?format=xlsx&{query}")
    sheet = openpyxl.load_workbook(io.BytesIO(await r.read())).active
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[1][4] == '\'=HYPERLINK("x")' and sheet.cell(2, 5).data_type == "s"
    assert len(cells) == len(body) + 1
    r = await staff_client.get(f"/staff/audit/export?format=json&{query}")
    data = json.loads(await r.read())
    assert len(data) == len(body) and data[0]["tài khoản"] == "boss"
    r = await staff_client.get("/staff/audit/export?format=exe")
    assert r.status == 400 and "csv, xlsx" in await r.text()
    exports = [e for e in await _entries(services) if e.action == "audit.export"]
    assert [e.detail["format"] for e in exports] == ["csv", "xlsx", "json"]
    assert exports[0].detail["filters"] == {"staff": "boss", "action": "report."}
