"""The open-data page in headless Chromium (Debian's, through Playwright's executablePath) on a
phone-sized screen, with JavaScript on and off: no horizontal scroll, the charts drawn and
readable, the filter form working as a plain GET form, nothing loaded from outside the app and
no Content-Security-Policy violation."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.channels.test_web_browser import ARGS, CHROMIUM, SHOTS, VIOLATIONS
from tests.opendata.test_web import seed

PHONE = {"width": 360, "height": 740}
CHECK = """() => {
  const charts = [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    return {w: r.width, h: r.height, left: r.left, right: r.right};
  });
  const sizes = [...document.querySelectorAll('svg.chart text')]
    .map(t => t.getBoundingClientRect().height).filter(h => h > 0);
  return {
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    charts,
    smallest: Math.min(...sizes),
  };
}"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
async def test_open_data_on_a_phone(server, services, javascript):
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/install-system-deps.sh"
    await seed(services)
    outside: list[str] = []
    console: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context(
                viewport=PHONE, device_scale_factor=1, java_script_enabled=javascript
            )
            page = await context.new_page()
            page.on(
                "request", lambda r: outside.append(r.url) if "127.0.0.1" not in r.url else None
            )
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            if javascript:
                await page.add_init_script(VIOLATIONS)
            await page.goto(str(server.make_url("/open-data/")))
            await page.get_by_role("heading", name="Hộ được hỗ trợ làm nhà ở").wait_for()
            if javascript:
                got = await page.evaluate(CHECK)
                assert got["overflow"] <= 0, f"{got['overflow']} px wider than the phone"
                assert len(got["charts"]) >= 19  # 18 indicators and the online share
                for c in got["charts"]:
                    assert c["left"] >= 0 and c["right"] <= PHONE["width"]
                    assert c["w"] >= 300 and c["h"] > 50
                assert got["smallest"] >= 11, "chart text readable on the phone"
                assert await page.evaluate("window.__violations") == []
            # the CSS applied (own static file, allowed by the CSP): the header is green
            bg = (
                await page.locator("header").evaluate("e => getComputedStyle(e).backgroundColor")
                if javascript
                else None
            )
            assert bg in (None, "rgb(46, 107, 58)")
            chart = page.locator("svg.chart").first
            assert await chart.is_visible()
            assert await page.locator("table").first.is_visible()
            SHOTS.mkdir(parents=True, exist_ok=True)
            name = "opendata-phone" + ("" if javascript else "-nojs")
            await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
            await page.locator("#truc-tuyen").screenshot(path=str(SHOTS / f"{name}-online.png"))
            await page.locator("article#p1_nha_o").screenshot(path=str(SHOTS / f"{name}-chart.png"))
            # the filters are a plain GET form: works with JavaScript off too
            await page.select_option("select[name=period]", "2026-11")
            await page.get_by_role("button", name="Xem").click()
            await page.wait_for_url("**/open-data/?area=&period=2026-11")
            await page.locator("svg.chart-hbar").first.wait_for()
            assert await page.get_by_role("cell", name="ẩn").first.is_visible()
            if javascript:
                got = await page.evaluate(CHECK)
                assert got["overflow"] <= 0
            await page.locator("article#p1_nha_o").screenshot(
                path=str(SHOTS / f"{name}-filtered.png")
            )
        finally:
            await browser.close()
    assert outside == [], f"page loaded assets from outside the app: {outside}"
    assert console == [], console
