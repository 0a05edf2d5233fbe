"""Logging in and out of the dashboard: sessions, rotation, expiry, lockout, CSRF, refusals."""

from __future__ import annotations

from tests.staff.conftest import CSRF_RE


async def test_login_and_logout(staff_client, make_staff, login):
    admin = await make_staff("admin")
    r = await staff_client.get("/staff/", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"].startswith("/staff/login")
    await login(staff_client, admin)
    r = await staff_client.get("/staff/")
    assert r.status == 200
    text = await r.text()
    assert admin.name in text and "Đăng xuất" in text
    token = CSRF_RE.search(text).group(1)
    r = await staff_client.post("/staff/logout", data={"_csrf": token}, allow_redirects=False)
    assert r.status == 200 and "Đã đăng xuất" in await r.text()
    r = await staff_client.get("/staff/", allow_redirects=False)
    assert r.status == 302


async def test_pages_smoke(staff_client, make_staff, login, post_form):
    admin = await make_staff("admin")
    await login(staff_client, admin)
    for path in ("/staff/", "/staff/accounts", "/staff/audit", "/staff/password"):
        r = await staff_client.get(path)
        assert r.status == 200, (path, r.status, await r.text())
    r = await post_form(
        staff_client,
        "/staff/accounts",
        {"name": "xa.badong", "password": "x" * 12, "role": "commune", "area": "qng.ba_dong"},
        page="/staff/accounts",
    )
    assert r.status == 303, await r.text()
    r = await staff_client.get("/staff/audit")
    assert "account.created" in await r.text()
    r = await staff_client.get("/staff/audit/export?format=csv")
    assert r.status == 200 and "account.created" in await r.text()
