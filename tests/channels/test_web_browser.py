"""The web chat in headless Chromium (Debian's, driven by Playwright; no browser download):
a phone-sized screen, the server's session cookie, and the Content-Security-Policy not breaking
(or being broken by) the page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from sqlalchemy import select

from bot.storage.models import User

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every Content-Security-Policy violation the page causes, from the first script on.
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""
# What an injected (XSS) inline script would do: it must not run.
INJECT = """() => {
  window.__ran = false;
  try {
    const s = document.createElement("script");
    s.textContent = "window.__ran = true; /* __injected__ */";
    document.body.appendChild(s);
  } catch (e) {}  // Trusted Types refuse the assignment itself
  return window.__ran === false;
}"""
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def page_url(server):
    return str(server.make_url("/"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_chat_in_a_phone_sized_browser(page_url, services):
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/install-system-deps.sh"
    outside: list[str] = []
    console: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page(
                viewport={"width": 360, "height": 640}, device_scale_factor=1
            )
            page.on(
                "request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None
            )
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            await page.add_init_script(VIOLATIONS)
            await page.goto(page_url)
            await page.get_by_role("button", name="Tiếng Việt", exact=True).click()
            await page.get_by_text("Đã chọn ngôn ngữ: Tiếng Việt").wait_for()
            await page.fill("#text", "hỗ trợ làm nhà cho hộ nghèo được bao nhiêu tiền")
            await page.click("#send")
            await page.get_by_text("40 triệu", exact=False).first.wait_for()
            # Subscribing asks for consent; agreeing records it.
            await page.fill("#text", "/subscribe")
            await page.press("#text", "Enter")
            await page.get_by_role("button", name="Đồng ý", exact=True).click()
            await page.get_by_text("Đã đăng ký", exact=False).wait_for()
            # The choice survives a reload (kept in the browser, not on the server).
            assert await page.evaluate("localStorage.getItem('langso.lang')") == "vi"
            # Who the visitor is: the server's cookie, out of the page's reach.
            assert await page.evaluate("Object.keys(localStorage)") == ["langso.lang"]
            assert await page.evaluate("document.cookie") == ""
            [cookie] = await page.context.cookies()
            assert cookie["name"] == "langso_session" and cookie["httpOnly"]
            assert cookie["sameSite"] == "Lax"
            # After a reload the same session goes on: the menu, not the welcome.
            await page.reload()
            await page.get_by_text("Tôi là Làng Số", exact=False).first.wait_for()
            clean_console = list(console)
            # The CSP holds: an injected inline script does not run, and the page reported it.
            blocked = await page.evaluate(INJECT)
            assert blocked is True
            assert await page.evaluate("window.__violations.length") >= 1
            await page.evaluate("window.__violations.length = 0")
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth > window.innerWidth"
            )
            assert not overflow, "page is wider than a phone screen"
            SHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "webchat-phone.png"))
            violations = await page.evaluate("window.__violations")
        finally:
            await browser.close()
    assert outside == [], f"page loaded assets from outside the app: {outside}"
    # One visitor, one user, across the reload.
    async with services.sessionmaker() as session:
        rows = await session.execute(select(User.external_id).where(User.channel == "web"))
        assert len(list(rows.scalars())) == 1
    # The page itself needs nothing the policy forbids.
    assert violations == [], violations
    # No error or warning in the console (CSP, Permissions-Policy, a missing file...).
    assert clean_console == [], clean_console
