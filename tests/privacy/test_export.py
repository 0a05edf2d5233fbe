"""/dulieu sends the person a file with everything kept about them, on every channel.

The JSON file holds every row that names them (user, consents, subscriptions, replies and their
messages still kept), the text file the same for a person to read; both are written into the
private exports folder under an unguessable name, readable by the bot only, and deleted after
their time to live. Telegram uploads them (sendDocument), Zalo (whose OA API sends only PDF/DOC/
DOCX) sends the text as messages and says the JSON cannot go, the web chat links them through a
route that serves them to the session's own web user only, the console prints the path.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import time

import aiohttp
import pytest
from sqlalchemy import update

from bot.channels.console import run_console
from bot.channels.zalo import EXPORT_NOT_SENT, UPLOAD_FILE_PATH
from bot.messages import Reply
from bot.privacy import export
from bot.privacy.retention import PrivacyJobs, sweep_exports
from bot.storage.models import User
from bot.storage.repositories import inbox
from tests.channels.conftest import TelegramHarness
from tests.channels.conftest_zalo import start_bot
from tests.channels.web_helpers import make_server, mid, post, visitor  # noqa: F401 - fixture
from tests.conftest import message
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.zalo_api import FakeZaloApi, event

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PHONE, NAME = "0905222444", "Hồ Văn Bảy"


def exports_of(settings) -> list:
    folder = settings.path(settings.privacy.export_dir)
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def consented(pipeline, sender: str, channel: str = "web") -> None:
    for kw in ({"text": "/subscribe"}, {"payload": "/consent yes"}):
        await pipeline.handle(message(sender=sender, channel=channel, lang="vi", **kw))


async def test_the_files_hold_every_row_that_names_the_person(pipeline, services, settings):
    await consented(pipeline, "ex1")
    await consented(pipeline, "someone-else")
    async with services.writing() as s:
        await s.execute(
            update(User).where(User.external_id == "ex1").values(display_name=NAME, phone=PHONE)
        )
        await s.commit()
    async with services.writing() as s:  # a message of theirs still waiting to be handled
        await inbox.record(s, "web", "waiting-1", {"text": "tin nhắn đang chờ"}, sender="ex1")

    turn = await pipeline.handle(message("/dulieu", sender="ex1", lang="vi"))

    summary, as_json, as_text = turn.replies
    assert "- Số điện thoại: " + PHONE in summary.text  # the chat summary stays
    assert [b.payload for b in summary.buttons] == ["/xoadulieu"]
    assert export.is_ref(as_json.document) and as_json.document.endswith(".json")
    assert export.is_ref(as_text.document) and as_text.document.endswith(".txt")
    folder = settings.path(settings.privacy.export_dir)
    data = json.loads(export.local_file(as_json.document, folder).read_text("utf-8"))
    assert data["channel"] == "web" and data["platform_id"] == "ex1"
    assert data["user"]["display_name"] == NAME and data["user"]["phone"] == PHONE
    assert [c["purpose"] for c in data["consents"]] == ["notices"]
    assert [s["active"] for s in data["subscriptions"]] == [True]
    assert {r["message_id"]: r["payload"] for r in data["inbox"] if r["payload"]} == {
        "waiting-1": {"text": "tin nhắn đang chờ"}
    }
    assert any("Đã đăng ký" in (r["text"] or "") for r in data["outbox"])  # replies kept
    assert "someone-else" not in json.dumps(data)
    text = export.local_file(as_text.document, folder).read_text("utf-8")
    assert "Dữ liệu Làng Số lưu về bạn" in text
    assert f"Số điện thoại: {PHONE}" in text and f"Tên: {NAME}" in text
    assert "gửi thông báo, lớp tập huấn cho bạn" in text and "Nhận thông báo: có" in text
    assert "tin nhắn đang chờ" in text
    # Private: not under a static route, an unguessable name, readable by the bot only.
    [made] = exports_of(settings)
    assert len(made.name) == 32 and export.TOKEN_RE.match(made.name)
    assert "static" not in made.parts and "content" not in made.parts
    for f in made.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.stat().st_mode) == 0o700


async def test_export_files_are_deleted_after_their_time_to_live(pipeline, settings):
    for sender in ("ttl1", "ttl2"):
        await consented(pipeline, sender)  # with nothing kept there is no file
        await pipeline.handle(message("/dulieu", sender=sender, lang="vi"))
    old, fresh = exports_of(settings)
    ttl = settings.privacy.export_ttl_minutes * 60
    past = time.time() - ttl - 5
    os.utime(old, (past, past))
    assert sweep_exports(settings) == 1
    assert exports_of(settings) == [fresh]
    # The background jobs `serve` starts sweep them too.
    os.utime(fresh, (past, past))
    jobs = PrivacyJobs(None, settings, sweep_interval=0.01, first_purge=3600)
    jobs.start()
    try:
        for _ in range(200):
            if not exports_of(settings):
                break
            await asyncio.sleep(0.01)
    finally:
        await jobs.stop()
    assert exports_of(settings) == []


async def test_web_chat_downloads_only_the_sessions_own_export(make_server):  # noqa: F811
    server = await make_server()
    async with visitor(server) as me, visitor(server) as other:
        await post(me, server, message_id=mid(), payload="/lang vi")
        await post(me, server, message_id=mid(), text="/subscribe", lang="vi")
        await post(me, server, message_id=mid(), payload="/consent yes", lang="vi")
        status, body = await post(me, server, message_id=mid(), text="/dulieu", lang="vi")
        assert status == 200
        refs = [r["document"] for r in body["replies"] if r.get("document")]
        assert len(refs) == 2 and all(r.startswith("/exports/") for r in refs)
        json_ref = next(r for r in refs if r.endswith(".json"))
        async with me.get(server.make_url(json_ref)) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Disposition"].startswith("attachment")
            assert resp.headers["Cache-Control"] == "no-store"
            assert (await resp.json(content_type=None))["channel"] == "web"
        async with other.get(server.make_url(json_ref)) as resp:  # another visitor
            assert resp.status == 404
            assert "/dulieu" in (await resp.json())["error"]
        async with aiohttp.ClientSession() as anon:  # no session at all
            async with anon.get(server.make_url(json_ref)) as resp:
                assert resp.status == 404
        bad = json_ref.replace(json_ref.split("/")[2], "A" * 32)  # a token that does not exist
        async with me.get(server.make_url(bad)) as resp:
            assert resp.status == 404
        async with me.get(server.make_url("/static/../exports/")) as resp:
            assert resp.status == 404


@sqlite_only
async def test_console_prints_where_the_files_are(app_parts, settings):
    from bot.app import build_worker

    _services, _engine, pipeline = app_parts
    out = io.StringIO()
    await run_console(
        build_worker(pipeline), io.StringIO("/subscribe\nđồng ý\n/dulieu\n"), out, lang="vi"
    )
    folder = str(settings.path(settings.privacy.export_dir))
    printed = [line for line in out.getvalue().splitlines() if "[document: " in line]
    assert len(printed) == 2 and all(folder in line for line in printed)


async def test_telegram_uploads_both_files(app_parts, settings):
    async with FakeTelegramAPI() as api:
        tg = TelegramHarness(api, app_parts, settings, "polling")
        try:
            await tg.start()
            tg.channel.exports_dir = settings.path(settings.privacy.export_dir)
            for text in ("/subscribe", "đồng ý", "/dulieu"):
                await tg.push(api.text_update(5550001, text))
                await tg.settle()
            await tg.settle()
            docs = api.calls_of("sendDocument", ok=True)
            assert [c.files["document"].filename for c in docs] == [
                export.JSON_NAME,
                export.TEXT_NAME,
            ]
            data = json.loads(docs[0].files["document"].data)
            assert data["channel"] == "telegram" and data["platform_id"] == "5550001"
            assert "Dữ liệu Làng Số lưu về bạn" in docs[1].files["document"].data.decode()
            assert docs[0].params.get("caption")  # what the file is, in the user's language
            # A file past its time to live: the caption goes alone, nothing fails.
            [made] = exports_of(settings)
            sweep_exports(settings, now=time.time() + 10**6)
            late = Reply(text="Tệp dữ liệu", document=f"/exports/{made.name}/{export.JSON_NAME}")
            assert await tg.send(5550001, late) == ("sent", None)
            assert api.texts(5550001)[-1] == "Tệp dữ liệu"
        finally:
            await tg.close()


async def test_zalo_sends_the_text_as_messages_and_says_the_json_cannot_go(
    app_parts, settings, services, pipeline
):
    fake = await FakeZaloApi().start()
    bot = await start_bot(fake, pipeline, services.sessionmaker)
    bot.channel.exports_dir = settings.path(settings.privacy.export_dir)
    try:
        user = "4829301746582910374"
        for text in ("/subscribe", "đồng ý", "/dulieu"):
            await bot.post(event("user_send_text", user, text=text))
            await bot.settle()
        await bot.settle()
        texts = fake.texts(user)
        assert EXPORT_NOT_SENT in texts
        readable = [t for t in texts if t.startswith("Dữ liệu Làng Số lưu về bạn")]
        assert len(readable) == 1 and user in readable[0]
        assert fake.calls.get(UPLOAD_FILE_PATH, 0) == 0  # no file upload was tried
        assert all(s.message.get("text") for s in fake.sent if s.user_id == user)
    finally:
        await bot.close()
        await fake.stop()
