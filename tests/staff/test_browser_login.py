"""The dashboard in headless Chromium on a phone-sized screen: a wrong password, the login, the
menu, the accounts page, logout; nothing from outside the app, no CSP violation, nothing wider
than the screen."""

from __future__ import annotations

import pytest

from tests.staff.conftest import screenshot_path

VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


async def _fits(page) -> bool:
    return not await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_login_on_a_phone(staff_server, phone, make_staff, services):
    admin = await make_staff("admin", name="quantri")
    await phone.add_init_script(VIOLATIONS)
    await phone.goto(str(staff_server.make_url("/staff/accounts")))
    assert "/staff/login" in phone.url  # not logged in: to the login page
    await phone.fill("#name", admin.name)
    await phone.fill("#password", "not the password")
    await phone.click("button[type=submit]")
    await phone.get_by_text("Tên đăng nhập hoặc mật khẩu không đúng.").wait_for()
    await phone.fill("#password", admin.password)
    await phone.click("button[type=submit]")
    # Back to the page asked for, with the menu.
    await phone.get_by_role("heading", name="Tài khoản cán bộ").wait_for()
    nav = phone.get_by_role("navigation", name="Các trang")
    for label in ("Trang chính", "Tài khoản", "Nhật ký"):
        assert await nav.get_by_role("link", name=label, exact=True).is_visible()
    assert await _fits(phone), "the accounts page is wider than a phone"
    await phone.screenshot(path=screenshot_path("staff-accounts-phone.png"), full_page=True)
    await nav.get_by_role("link", name="Trang chính", exact=True).click()
    await phone.get_by_role("heading", name=f"Xin chào, {admin.name}").wait_for()
    assert await _fits(phone)
    await phone.screenshot(path=screenshot_path("staff-home-phone.png"))
    [cookie] = [c for c in await phone.context.cookies() if c["name"] == "langso_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert await phone.evaluate("document.cookie") == ""
    await phone.get_by_role("button", name="Đăng xuất", exact=True).click()
    await phone.get_by_text("Đã đăng xuất.").wait_for()
    await phone.goto(str(staff_server.make_url("/staff/")))
    assert "/staff/login" in phone.url
    await phone.screenshot(path=screenshot_path("staff-login-phone.png"))
    violations = await phone.evaluate("window.__violations")
    assert phone.outside == [], phone.outside
    assert violations == [], violations
    # The wrong password's page is a 401 on purpose, which Chromium notes in the console.
    errors = [e for e in phone.errors if "status of 401" not in e]
    assert errors == [], errors
