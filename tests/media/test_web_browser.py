"""The web chat's attach button in headless Chromium: the photo goes up through
`POST /api/uploads` from the page's own script (under its Content-Security-Policy), is stored
without its EXIF GPS, and the bot answers in the chat."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import async_playwright

from bot.media.store import is_stored_ref
from tests.channels.test_web_browser import ARGS, CHROMIUM, VIOLATIONS
from tests.media.helpers import assert_clean_jpeg, assert_named_by_hash, jpeg_with_gps


async def test_a_photo_sent_from_the_page(server, services, seen, tmp_path):
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/install-system-deps.sh"
    photo = tmp_path / "nha-toi.jpg"
    photo.write_bytes(jpeg_with_gps())
    console: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 640})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            await page.add_init_script(VIOLATIONS)
            await page.goto(str(server.make_url("/")))
            await page.get_by_role("button", name="Tiếng Việt", exact=True).click()
            await page.get_by_text("Đã chọn ngôn ngữ: Tiếng Việt").wait_for()
            async with page.expect_file_chooser() as chooser:
                await page.click("#attach")
            await (await chooser.value).set_files(str(photo))
            await page.get_by_text("nha-toi.jpg", exact=False).wait_for()  # the user's bubble
            await page.get_by_text("Tôi đã nhận ảnh", exact=False).first.wait_for()
            violations = await page.evaluate("window.__violations")
        finally:
            await browser.close()
    assert violations == [] and console == [], (violations, console)
    [stored] = seen.last.media
    assert is_stored_ref(stored.ref)
    settings = services.settings
    assert_clean_jpeg(assert_named_by_hash(settings.path(settings.media.dir), stored.ref))
