"""The web chat's first minute in headless Chromium on a 360×640 phone screen: the buttons a reply
brings are on screen once they are added (the consent question's answers first of all)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.channels.test_web_browser import ARGS, CHROMIUM

# Where the last button of the last bot message is, against the visible part of the log.
LAST_BUTTON = """() => {
  const log = document.getElementById("log");
  const buttons = log.querySelectorAll(".msg.bot:last-child .buttons button");
  if (!buttons.length) return null;
  const b = buttons[buttons.length - 1].getBoundingClientRect();
  const l = log.getBoundingClientRect();
  return {label: buttons[buttons.length - 1].textContent, top: b.top, bottom: b.bottom,
          logTop: l.top, logBottom: l.bottom, innerHeight: window.innerHeight};
}"""


def on_screen(box: dict) -> bool:
    return (
        box["top"] >= box["logTop"]
        and box["bottom"] <= box["logBottom"] + 0.5
        and box["bottom"] <= box["innerHeight"]
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_consent_buttons_are_on_a_phone_screen(server):
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/install-system-deps.sh"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page(
                viewport={"width": 360, "height": 640}, device_scale_factor=1
            )
            await page.goto(str(server.make_url("/")))
            await page.get_by_role("button", name="Tiếng Việt", exact=True).click()
            await page.get_by_text("Đã chọn ngôn ngữ: Tiếng Việt").wait_for()
            box = await page.evaluate(LAST_BUTTON)
            assert box is not None and on_screen(box), box  # the menu after the language
            await page.fill("#text", "/subscribe")
            await page.press("#text", "Enter")
            await page.get_by_role("button", name="Không đồng ý", exact=True).wait_for()
            await page.wait_for_timeout(100)  # nothing scrolls it later: this is where it stays
            box = await page.evaluate(LAST_BUTTON)
            assert box is not None and box["label"] == "Không đồng ý"
            assert on_screen(box), f"the consent buttons are off screen: {box}"
        finally:
            await browser.close()
