"""The web chat, on SQLite and PostgreSQL: a translator records by uploading an audio file
(POST /api/uploads, as the page's attach button does), a file that is not audio is refused by
the upload itself, and a Hrê villager's answer then carries the recording's URL under /voice/
(in the format every browser plays), which the page shows as an <audio> element."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from playwright.async_api import async_playwright
from sqlalchemy import select

from bot.storage.models import Recording
from tests.channels.web_helpers import mid, post, visitor
from tests.conftest import message
from tests.voice.conftest import invite, join_translator, tone, voice_message

HOUSING = "ho tro lam nha bao nhieu tien"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


async def upload(session, server, data: bytes, content_type: str) -> tuple[int, dict]:
    url = server.make_url("/api/uploads").with_query({"message_id": uuid.uuid4().hex})
    async with session.post(url, data=data, headers={"Content-Type": content_type}) as resp:
        return resp.status, await resp.json()


def texts(body: dict) -> str:
    return "\n".join(r["text"] for r in body["replies"])


async def test_a_translator_records_over_the_web_chat(server, services, settings) -> None:
    async with visitor(server) as tr, visitor(server) as reviewer, visitor(server) as villager:
        for who in (tr, reviewer):
            await post(who, server, message_id=mid(), text=f"/madich {await invite(services)}")
            _s, joined = await post(who, server, message_id=mid(), payload="/consent yes")
            assert "Bạn đã là người dịch tiếng Hrê" in texts(joined)
        await post(villager, server, message_id=mid(), payload="/lang hre")
        for _ in range(2):
            await post(villager, server, message_id=mid(), text=HOUSING)
        await post(tr, server, message_id=mid(), text="/dich")

        status, refused = await upload(tr, server, b"%PDF-1.4 not audio\n" * 20, "audio/ogg")
        assert status == 400 and "không phải là âm thanh" in refused["error"]
        status, body = await upload(tr, server, tone(1, "m4a"), "audio/mp4")
        assert status == 200 and "Đã nhận bản ghi (1 giây), chờ duyệt." in texts(body)
        async with services.sessionmaker() as s:
            rec = (await s.execute(select(Recording))).scalar_one()
        url = f"/voice/{rec.audio}.m4a"
        _s, replay = await post(tr, server, message_id=mid(), text="nghe lại")
        assert [r["voice"] for r in replay["replies"] if r.get("voice")] == [url]
        async with tr.get(server.make_url(url)) as resp:  # the translator hears their draft
            assert resp.status == 200 and resp.headers["Cache-Control"] == "private, no-store"
        async with villager.get(server.make_url(url)) as resp:  # nobody else does
            assert resp.status == 404

        await post(reviewer, server, message_id=mid(), text="/duyet")
        await post(reviewer, server, message_id=mid(), text="duyệt")
        _s, answer = await post(villager, server, message_id=mid(), text=HOUSING)
        voiced = [r for r in answer["replies"] if r.get("voice")]
        assert [r["voice"] for r in voiced] == [url] and "Nguồn:" in voiced[0]["text"]
        async with villager.get(server.make_url(url)) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "audio/mp4"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_chat_page_plays_an_approved_recording(server, pipeline, services, settings):
    """In headless Chromium: a Hrê villager's answer shows an <audio> element whose M4A the
    browser loads and can play (its duration read from the file)."""
    await join_translator(pipeline, services, "tr-a")
    await join_translator(pipeline, services, "tr-b")
    await pipeline.handle(message(payload="/lang hre", sender="v-0"))
    for _ in range(2):
        await pipeline.handle(message(HOUSING, sender="v-0"))
    await pipeline.handle(message("/dich", sender="tr-a"))
    await pipeline.handle(voice_message(settings, tone(2, "ogg"), "tr-a"))
    await pipeline.handle(message("/duyet", sender="tr-b"))
    await pipeline.handle(message("duyệt", sender="tr-b"))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 360, "height": 640})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(str(server.make_url("/")))
            await page.get_by_role("button", name="Hrê", exact=True).click()
            await page.get_by_text("Đã chọn ngôn ngữ: Hrê").wait_for()
            await page.fill("#text", HOUSING)
            await page.click("#send")
            audio = page.locator("audio").first
            await audio.wait_for()
            src = await audio.get_attribute("src")
            assert src is not None and src.startswith("/voice/") and src.endswith(".m4a")
            duration = await audio.evaluate(
                """a => new Promise((ok, fail) => {
                    a.addEventListener("loadedmetadata", () => ok(a.duration));
                    a.addEventListener("error", () => fail("cannot load: " + a.error.code));
                    a.preload = "metadata"; a.load();
                })"""
            )
            assert 1.8 <= duration <= 2.3
            assert errors == []
        finally:
            await browser.close()
