"""Done when, issue 11 (handoff), in Chromium on a phone-sized screen: a villager on Telegram (the
fake Bot API, the channel wired as production wires it: adapter, inbound worker, sender, outbox
dispatcher) asks for a person and writes; a staff member logs in, finds the conversation in the
handoff inbox, replies from the page and hands it back; the villager's Telegram chat receives
the reply and the hand back, sent by the running dispatcher, and the bot answers them again.
Screenshots in var/screenshots."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import select

from bot.app import build_pipeline
from bot.storage.models import Handoff
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.flows.forms.test_channels import TelegramDriver
from tests.staff.conftest import screenshot_path

SAID = "Nhà tôi ở thôn Mang Ri bị sập mái, xin cán bộ giúp"
REPLY = "Chào bác, ngày mai cán bộ xã xuống xem nhà bác."


@pytest.fixture
def settings(settings):
    limits = dataclasses.replace(settings.limits, flood_messages=10_000)
    return dataclasses.replace(settings, limits=limits)


async def wait_for_text(api, chat: int, needle: str) -> str:
    async with asyncio.timeout(15):
        while True:
            found = [t for t in api.texts(chat) if needle in t]
            if found:
                return found[-1]
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_staff_reply_from_the_handoff_inbox_reaches_telegram(
    app_parts, settings, staff_server, make_staff, phone
):
    services, engine, _ = app_parts
    async with FakeTelegramAPI() as api:
        d = TelegramDriver((services, engine, build_pipeline(services)), settings, api)
        await d.start()
        try:
            await d.text("/lang vi")
            said = "\n".join(await d.text("/canbo"))
            assert "Bạn có đồng ý không?" in said
            said = "\n".join(await d.text("đồng ý"))
            assert "Một cán bộ sẽ trả lời bạn ngay trong trò chuyện này." in said
            await d.text(SAID)
            async with services.sessionmaker() as session:
                [h] = (await session.execute(select(Handoff))).scalars().all()

            staff = await make_staff("province")
            page = phone
            missing: list[str] = []
            page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
            base = str(staff_server.make_url("/staff"))
            await page.goto(base + "/login")
            await page.fill("input[name=name]", staff.name)
            await page.fill("input[name=password]", staff.password)
            await page.click("form button[type=submit]")
            await page.wait_for_url(base + "/")

            await page.click("nav a:text-is('Gặp cán bộ')")
            await page.wait_for_url(base + "/handoff")
            listed = await page.inner_text("ul.conversations")
            assert SAID in listed and "chưa trả lời" in listed
            assert str(d.chat) not in await page.content()  # never the chat id
            await page.screenshot(path=screenshot_path("staff-handoff-inbox.png"), full_page=True)
            await page.click(f"a[href='/staff/handoff/{h.id}'] >> nth=0")
            await page.wait_for_url(base + f"/handoff/{h.id}")
            await page.fill("#reply-text", REPLY)
            await page.click("form[action$='/reply'] button[type=submit]")
            await page.wait_for_selector("p.notice")
            assert REPLY in await page.inner_text("ol.messages")
            await page.screenshot(path=screenshot_path("staff-handoff-reply.png"), full_page=True)

            told = await wait_for_text(api, d.chat, REPLY)
            assert told.startswith("Một cán bộ đã trả lời bạn:")
            # The page shows the row's state once the dispatcher sent it.
            async with asyncio.timeout(15):
                while "đã gửi" not in await page.inner_text("ol.messages"):
                    await asyncio.sleep(0.1)
                    await page.reload()

            await page.click("form[action$='/close'] button[type=submit]")
            await page.wait_for_selector("p.notice")
            back = await wait_for_text(api, d.chat, "Cán bộ đã kết thúc trò chuyện.")
            assert "/canbo" in back
            said = "\n".join(await d.text("hỗ trợ làm nhà bao nhiêu tiền"))
            assert "40 triệu" in said  # the bot answers again
            # Every resource a page asked for was there, the dashboard's icon included.
            assert missing == []
            assert page.outside == [] and page.errors == [], (missing, page.errors)
        finally:
            await d.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_staff_reply_shows_in_the_web_chat(
    app_parts, staff_server, make_staff, browser, phone
):
    """The villager in the web chat (no push: the page asks every 15 s once a conversation with
    staff began), staff in another browser."""
    villager = phone
    chat = str(staff_server.make_url("/"))
    await villager.goto(chat)
    await villager.wait_for_selector(".msg.bot")
    await villager.fill("#text", "/canbo")
    await villager.click("#send")
    await villager.wait_for_selector(".msg.bot >> text=Bạn có đồng ý không?")
    await villager.click("button:text-is('Đồng ý')")
    await villager.wait_for_selector(".msg.bot >> text=Một cán bộ sẽ trả lời bạn")
    await villager.fill("#text", SAID)
    await villager.click("#send")
    services = app_parts[0]
    async with asyncio.timeout(10):
        while True:
            async with services.sessionmaker() as session:
                found = (await session.execute(select(Handoff))).scalars().all()
            if found:
                break
            await asyncio.sleep(0.1)

    context = await browser.new_context(viewport={"width": 360, "height": 640})
    try:
        page = await context.new_page()
        staff = await make_staff("province")
        base = chat + "staff"
        await page.goto(base + "/login")
        await page.fill("input[name=name]", staff.name)
        await page.fill("input[name=password]", staff.password)
        await page.click("form button[type=submit]")
        await page.wait_for_url(base + "/")
        await page.goto(base + f"/handoff/{found[0].id}")
        async with asyncio.timeout(10):
            while SAID not in await page.inner_text("ol.messages"):
                await asyncio.sleep(0.1)
                await page.reload()
        assert "Trò chuyện trên web" in await page.inner_text("main")
        await page.fill("#reply-text", REPLY)
        await page.click("form[action$='/reply'] button[type=submit]")
        await page.wait_for_selector("p.notice")
    finally:
        await context.close()
    await villager.wait_for_selector(f".msg.bot >> text={REPLY}", timeout=25_000)
    shown = await villager.inner_text("#log")
    assert "Một cán bộ đã trả lời bạn:" in shown
    await villager.screenshot(path=screenshot_path("webchat-handoff-reply.png"), full_page=True)
    assert villager.outside == [], villager.outside
