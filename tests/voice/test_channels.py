# ruff: noqa: F811 - pytest fixtures imported from the channel tests are redefined as arguments
"""The loop through the platforms as production wires them: over the fake Telegram Bot API a
translator joins, records a voice message (a generated OGG/Opus tone, downloaded by the media
step), a second translator hears it (sendVoice) and approves it, and a Hrê villager asking that
item gets it as a voice message with the text under it (sendVoice, the converted OGG uploaded);
before the approval the villager gets text only. On Zalo a translator records an audio message
(the attachment downloaded by the media step), and a villager, since the OA API sends no audio,
gets the text and a link to the recording, which the web app serves once approved (a draft is
not served)."""

from __future__ import annotations

from sqlalchemy import select

from bot.storage.models import Recording
from bot.voice.store import VoiceStore
from tests.channels.conftest import TelegramHarness
from tests.channels.conftest_zalo import start_bot, zalo_api  # noqa: F401
from tests.conftest import message
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.zalo_api import event
from tests.voice.conftest import invite, join_translator, tone, voice_message

HOUSING = "ho tro lam nha bao nhieu tien"


def voice_update(api: FakeTelegramAPI, chat: int, data: bytes) -> dict:
    file_id = api.add_file(data, "voice", "oga")
    return api.message(
        chat,
        voice={
            "file_id": file_id,
            "file_unique_id": file_id[-12:],
            "duration": 2,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        },
    )


def uploaded(api: FakeTelegramAPI, call) -> bytes:
    """The file a sendVoice call sent: uploaded, or (sent before) by its Telegram file id."""
    if call.files:
        (upload,) = call.files.values()
        return upload.data
    return api.files[call.params["voice"]].data


async def test_the_loop_over_telegram(app_parts, settings) -> None:
    services = app_parts[0]
    async with FakeTelegramAPI() as api:
        h = TelegramHarness(api, app_parts, settings, "polling")
        channel = await h.start()
        channel.voice_dir = settings.path(settings.voice.dir)  # as build_channels sets it
        try:

            async def say(chat: int, text: str) -> None:
                await h.push(api.text_update(chat, text))
                await h.settle()

            a, b, villager = 51001, 51002, 51003
            for chat in (a, b):
                await say(chat, f"/madich {await invite(services)}")
                await say(chat, "đồng ý")
                assert "Bạn đã là người dịch tiếng Hrê" in api.texts(chat)[-1]
            await say(villager, "/lang hre")
            await say(villager, HOUSING)
            await say(villager, HOUSING)  # asked twice: the most asked, before the phrases
            assert api.calls_of("sendVoice", chat_id=villager) == []

            await say(a, "/dich")
            title = services.content.by_id()["support.housing"].title_for("vi")
            assert f"Cần dịch sang tiếng Hrê: {title}" in api.texts(a)[-1]
            await h.push(voice_update(api, a, tone(2, "ogg")))
            await h.settle()
            assert "Đã nhận bản ghi (2 giây), chờ duyệt." in api.texts(a)[-1]
            await say(villager, HOUSING)
            assert api.calls_of("sendVoice", chat_id=villager) == []  # a draft: not yet

            await say(b, "/duyet")
            (heard,) = api.calls_of("sendVoice", chat_id=b, ok=True)
            async with services.sessionmaker() as s:
                rec = (await s.execute(select(Recording))).scalar_one()
            ogg = VoiceStore(settings.path(settings.voice.dir)).path(rec.audio, "ogg")
            assert uploaded(api, heard) == ogg.read_bytes()
            await say(b, "duyệt")
            assert any("Đã duyệt." in t for t in api.texts(b))

            await say(villager, HOUSING)
            (got,) = api.calls_of("sendVoice", chat_id=villager, ok=True)
            assert uploaded(api, got) == ogg.read_bytes()  # the OGG/Opus, as a voice
            assert not got.files  # uploaded once (to the reviewer), then sent by its file id
            assert "Nguồn:" in (got.params.get("caption") or "")  # the text under it
        finally:
            await h.close()


async def approved_recording(services, settings, pipeline, status: str = "approved") -> str:
    """A recording made through the chat, then set to `status`; its digest."""
    await join_translator(pipeline, services, "tr-z")
    await pipeline.handle(message(payload="/lang hre", sender="v-z"))
    for _ in range(2):
        await pipeline.handle(message(HOUSING, sender="v-z"))  # the most asked item
    await pipeline.handle(message("/dich", sender="tr-z"))
    await pipeline.handle(voice_message(settings, tone(1, "ogg"), "tr-z"))
    async with services.sessionmaker() as s:
        rec = (await s.execute(select(Recording))).scalar_one()
        rec.status = status
        await s.commit()
        return rec.audio


async def test_zalo_gets_a_link_and_the_web_serves_only_approved(
    app_parts, settings, zalo_api, server
) -> None:
    services, _engine, pipeline = app_parts
    digest = await approved_recording(services, settings, pipeline, status="draft")
    base = f"http://127.0.0.1:{server.port}"
    async with _client() as http:
        async with http.get(f"{base}/voice/{digest}.m4a") as resp:
            assert resp.status == 404  # a draft is nobody's to fetch
        async with services.sessionmaker() as s:
            rec = (await s.execute(select(Recording))).scalar_one()
            rec.status = "approved"
            await s.commit()
        async with http.get(f"{base}/voice/{digest}.m4a") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "audio/mp4"
            body = await resp.read()
        assert (
            body == VoiceStore(settings.path(settings.voice.dir)).path(digest, "m4a").read_bytes()
        )
        async with http.get(f"{base}/voice/{'0' * 64}.m4a") as resp:
            assert resp.status == 404
        async with http.get(f"{base}/voice/..%2Fsecret.m4a") as resp:
            assert resp.status == 404

    bot = await start_bot(zalo_api, pipeline, services.sessionmaker)
    bot.channel.voice_public_url = "https://langso.example"
    try:
        user = "2468458835296197001"
        for text in ("/lang hre", HOUSING):
            status, _ = await bot.post(event("user_send_text", user, text=text))
            assert status == 200
            await bot.settle()
        said = zalo_api.texts(user)
        assert f"https://langso.example/voice/{digest}.m4a" in said
        assert any("Nguồn:" in t for t in said)
    finally:
        await bot.close()


def _client():
    import aiohttp

    return aiohttp.ClientSession()


async def test_a_translator_records_on_zalo(app_parts, settings, zalo_api) -> None:
    """Zalo audio (an M4A tone at the attachment URL the fake serves) becomes a draft."""
    services, _engine, pipeline = app_parts
    bot = await start_bot(zalo_api, pipeline, services.sessionmaker)
    try:
        user = "2468458835296197002"

        async def send(ev: dict) -> None:
            status, _ = await bot.post(ev)
            assert status == 200
            await bot.settle()

        await send(event("user_send_text", user, text=f"/madich {await invite(services)}"))
        await send(event("user_send_text", user, text="đồng ý"))
        await send(event("user_send_text", user, text="/dich"))
        assert "Cần dịch sang tiếng Hrê" in zalo_api.texts(user)[-1]
        audio = zalo_api.media_event(user, tone(1, "m4a"), kind="user_send_audio", ext="m4a")
        await send(audio)
        assert "Đã nhận bản ghi (1 giây), chờ duyệt." in zalo_api.texts(user)[-1]
        async with services.sessionmaker() as s:
            rec = (await s.execute(select(Recording))).scalar_one()
        assert (rec.status, rec.original_ext) == ("draft", "m4a")
        assert VoiceStore(settings.path(settings.voice.dir)).kept(rec.audio, "m4a") is not None
    finally:
        await bot.close()
