"""`POST /api/uploads`: the web chat's photos and audio, with the web chat's session and origin
checks, capped while streaming, checked by content, cleaned and stored before the turn."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import build_web_app, build_worker
from bot.media.store import is_stored_ref
from tests.channels.web_helpers import jar, visitor
from tests.fakes.telegram_api import SAMPLE_OGG_OPUS
from tests.media.helpers import assert_clean_jpeg, assert_named_by_hash, jpeg_with_gps, stored_files

CAP = 256 * 1024


@pytest.fixture
async def server(app_parts: tuple) -> AsyncIterator[TestServer]:
    services, engine, pipeline = app_parts
    media = dataclasses.replace(services.settings.media, max_photo_bytes=CAP)
    pipeline.services = dataclasses.replace(
        services, settings=dataclasses.replace(services.settings, media=media)
    )
    app = build_web_app(pipeline.services, engine, build_worker(pipeline))
    app.on_cleanup.clear()  # the app_parts fixture owns the engine
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


async def upload(
    session: aiohttp.ClientSession,
    server: TestServer,
    data: Any,
    content_type: str = "image/jpeg",
    headers: dict[str, str] | None = None,
    **query: str,
) -> tuple[int, dict]:
    query.setdefault("message_id", uuid.uuid4().hex)
    query.setdefault("lang", "vi")
    hdrs = {"Content-Type": content_type, **(headers or {})}
    url = server.make_url("/api/uploads").with_query(query)
    async with session.post(url, data=data, headers=hdrs) as resp:
        return resp.status, await resp.json()


def media_dir(app_parts: tuple):
    settings = app_parts[2].services.settings
    return settings.path(settings.media.dir)


async def test_a_photo_with_gps_is_stored_without_it(server, app_parts, seen):
    async with visitor(server) as s:
        status, body = await upload(s, server, jpeg_with_gps())
    assert status == 200, body
    assert body["replies"]  # the turn answered, as for /api/messages
    [photo] = seen.last.media
    assert seen.last.channel == "web" and is_stored_ref(photo.ref)
    assert photo.kind == "photo" and photo.mime_type == "image/jpeg"
    assert_clean_jpeg(assert_named_by_hash(media_dir(app_parts), photo.ref))


async def test_the_same_photo_twice_is_one_file(server, app_parts, seen):
    data = jpeg_with_gps()
    async with visitor(server) as s:
        assert (await upload(s, server, data))[0] == 200
        assert (await upload(s, server, data))[0] == 200
    assert seen.messages[-1].media[0].ref == seen.messages[-2].media[0].ref
    assert len(stored_files(media_dir(app_parts))) == 1


async def test_a_voice_file_is_stored(server, app_parts, seen):
    async with visitor(server) as s:
        status, body = await upload(s, server, SAMPLE_OGG_OPUS, "audio/ogg")
    assert status == 200, body
    assert seen.last.media[0].mime_type == "audio/ogg"


async def test_a_text_file_sent_as_a_jpeg_is_refused(server, app_parts, seen):
    async with visitor(server) as s:
        status, body = await upload(s, server, b"khong phai anh\n" * 50)
    assert status == 400
    assert body["error"] == "Tệp này không phải là ảnh (JPEG, PNG hoặc WebP). Xin gửi một ảnh."
    assert seen.messages == [] and stored_files(media_dir(app_parts)) == []


async def test_an_oversized_photo_is_refused(server, app_parts, seen):
    async with visitor(server) as s:
        status, body = await upload(s, server, b"\xff\xd8" + b"\0" * (CAP + 1))
    assert status == 413 and body["error"] == "Ảnh lớn quá: tối đa 256 KB. Xin gửi ảnh nhỏ hơn."
    assert seen.messages == [] and stored_files(media_dir(app_parts)) == []


async def test_an_endless_upload_is_not_read_whole(server, seen):
    """Chunked, with no Content-Length: the route stops reading at the cap."""
    sent = 0

    async def endless():
        nonlocal sent
        for _ in range(10_000):  # 640 MB if it were all read
            sent += 65536
            yield b"\0" * 65536

    async with visitor(server) as s:
        try:
            status, body = await upload(s, server, endless())
            assert status == 413, body
        except aiohttp.ClientError:
            pass  # the server answered and closed while the client was still sending
    assert sent < 64 * 1024 * 1024 and seen.messages == []


@pytest.mark.parametrize(
    ("headers", "content_type", "status"),
    [
        ({"Origin": "https://evil.example"}, "image/jpeg", 403),
        ({"Sec-Fetch-Site": "cross-site"}, "image/jpeg", 403),
        ({}, "text/plain", 415),  # a cross-site form could send this without a preflight
        ({}, "multipart/form-data; boundary=x", 415),
        ({}, "application/octet-stream", 415),
    ],
)
async def test_the_web_chat_checks_come_first(server, seen, headers, content_type, status):
    async with visitor(server) as s:
        got, body = await upload(s, server, jpeg_with_gps(), content_type, headers)
    assert got == status and body["error"] and seen.messages == []


async def test_no_session_no_upload(server, seen):
    async with aiohttp.ClientSession(cookie_jar=jar()) as s:  # never loaded the page
        status, body = await upload(s, server, jpeg_with_gps())
    assert status == 403 and "tải lại trang" in body["error"] and seen.messages == []


async def test_a_bad_message_id_is_refused(server, seen):
    async with visitor(server) as s:
        status, body = await upload(s, server, jpeg_with_gps(), message_id="x")
    assert status == 400 and "message_id" in body["error"]
