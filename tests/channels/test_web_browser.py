"""The web chat in headless Chromium (Debian's, driven by Playwright; no browser download)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

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
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def page_url(server):
    return str(server.make_url("/"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_chat_in_a_phone_sized_browser(page_url):
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/install-system-deps.sh"
    outside: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page(
                viewport={"width": 360, "height": 640}, device_scale_factor=1
            )
            page.on(
                "request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None
            )
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
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth > window.innerWidth"
            )
            assert not overflow, "page is wider than a phone screen"
            SHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "webchat-phone.png"))
        finally:
            await browser.close()
    assert outside == [], f"page loaded assets from outside the app: {outside}"
