# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""Photos and audio through Telegram (fake Bot API: getFile + the file download) and Zalo (the
fake serves the attachment URL), through the real inbound worker: what the turn gets."""

from __future__ import annotations

from typing import Any

from bot.media.store import is_stored_ref
from tests.channels.conftest_zalo import start_bot, zalo_api  # noqa: F401
from tests.fakes.zalo_api import MEDIA, Fault
from tests.media.conftest import tune
from tests.media.helpers import (
    assert_clean_jpeg,
    assert_named_by_hash,
    jpeg_with_gps,
    stored_files,
)

CHAT = 5_550_001


def media_root(harness_or_services: Any):
    settings = harness_or_services.services.settings
    return settings.path(settings.media.dir)


def downloads(api) -> list:
    return [c for c in api.calls if c.method == "download"]


async def send(telegram, update: dict):
    await telegram.push(update)
    await telegram.settle()


async def test_a_telegram_photo_with_gps_is_stored_without_it(telegram, seen):
    await send(telegram, telegram.api.photo_update(CHAT, data=jpeg_with_gps()))
    msg = seen.last
    assert msg.media_problem is None
    [photo] = msg.media
    assert is_stored_ref(photo.ref) and photo.mime_type == "image/jpeg"
    path = assert_named_by_hash(media_root(telegram), photo.ref)
    assert photo.size == path.stat().st_size
    assert_clean_jpeg(path)
    assert [c.method for c in telegram.api.calls if c.method in ("getFile", "download")] == [
        "getFile",
        "download",
    ]


async def test_the_same_photo_twice_is_one_file(telegram, seen):
    data = jpeg_with_gps()
    await send(telegram, telegram.api.photo_update(CHAT, data=data))
    await send(telegram, telegram.api.photo_update(CHAT, data=data))
    first, second = (m.media[0].ref for m in seen.messages[-2:])
    assert first == second and len(stored_files(media_root(telegram))) == 1


async def test_a_text_file_named_jpg_is_refused(telegram, seen):
    update = telegram.api.document_update(CHAT, b"khong phai anh\n" * 40, "anh.jpg", "image/jpeg")
    await send(telegram, update)
    msg = seen.last
    assert msg.media_problem == (
        "Tệp này không phải là ảnh (JPEG, PNG hoặc WebP). Xin gửi một ảnh."
    )
    assert msg.media_problem.code == "not_image" and not is_stored_ref(msg.media[0].ref)
    assert stored_files(media_root(telegram)) == []


async def test_an_oversized_photo_is_refused_without_downloading(telegram, seen):
    tune(telegram.worker, max_photo_bytes=1024 * 1024)
    update = telegram.api.photo_update(CHAT, data=jpeg_with_gps(), file_size=3 * 1024 * 1024)
    await send(telegram, update)
    assert seen.last.media_problem == "Ảnh lớn quá: tối đa 1 MB. Xin gửi ảnh nhỏ hơn."
    assert downloads(telegram.api) == [] and stored_files(media_root(telegram)) == []


async def test_a_photo_bigger_than_telegram_said_is_cut_off(telegram, seen):
    """getFile says nothing of the size: the download is streamed and stopped at the cap."""
    tune(telegram.worker, max_photo_bytes=64 * 1024)
    big = b"\xff\xd8" + b"\x00" * (5 * 1024 * 1024)
    update = telegram.api.photo_update(CHAT, data=big, file_size=1000)
    file_id = update["message"]["photo"][-1]["file_id"]
    telegram.api.files[file_id].data = big
    await send(telegram, update)
    assert seen.last.media_problem.code == "too_large"
    assert stored_files(media_root(telegram)) == []


async def test_a_failing_download_is_retried_then_stored(telegram, seen):
    slept = tune(telegram.worker, retry_delay_seconds=0.5)
    telegram.api.fail("download", 500)
    await send(telegram, telegram.api.photo_update(CHAT, data=jpeg_with_gps()))
    assert seen.last.media_problem is None and is_stored_ref(seen.last.media[0].ref)
    assert [c.status for c in downloads(telegram.api)] == [500, 200] and slept == [0.5]


async def test_a_download_that_keeps_failing_asks_to_send_again(telegram, seen):
    slept = tune(telegram.worker, retry_delay_seconds=0.5, download_attempts=3)
    telegram.api.fail("download", 500, times=10)
    await send(telegram, telegram.api.photo_update(CHAT, caption="ảnh nhà", data=jpeg_with_gps()))
    msg = seen.last
    assert msg.media_problem == "Chưa nhận được ảnh, xin gửi lại."
    assert msg.text == "ảnh nhà" and msg.media[0].kind == "photo"  # the rest of it is there
    assert [c.status for c in downloads(telegram.api)] == [500, 500, 500]
    assert slept == [0.5, 1.0]  # backoff, doubled


async def test_a_file_telegram_refuses_is_not_retried(telegram, seen):
    slept = tune(telegram.worker)
    update = telegram.api.photo_update(CHAT, data=jpeg_with_gps())
    del telegram.api.files[update["message"]["photo"][-1]["file_id"]]  # getFile: 400
    await send(telegram, update)
    assert seen.last.media_problem.code == "failed" and slept == []


async def test_a_voice_note_is_stored_as_it_came(telegram, seen):
    await send(telegram, telegram.api.voice_update(CHAT))
    [voice] = seen.last.media
    assert voice.kind == "voice" and voice.mime_type == "audio/ogg" and voice.ref.endswith(".ogg")
    assert_named_by_hash(media_root(telegram), voice.ref)


async def test_the_bot_token_is_not_logged(telegram, seen, caplog):
    caplog.set_level("DEBUG")
    tune(telegram.worker)
    telegram.api.fail("download", 500, times=10)
    await send(telegram, telegram.api.photo_update(CHAT, data=jpeg_with_gps()))
    assert seen.last.media_problem
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not be downloaded" in logged
    assert telegram.api.token not in logged and "/file/bot" not in logged


async def test_a_message_without_media_costs_nothing(telegram, seen):
    await send(telegram, telegram.api.text_update(CHAT, "xin chào"))
    assert seen.last.media == () and seen.last.media_problem is None
    assert not [c for c in telegram.api.calls if c.method in ("getFile", "download")]


async def test_a_zalo_photo_with_gps_is_fetched_and_cleaned(zalo_api, app_parts, seen):
    services, _engine, pipeline = app_parts
    bot = await start_bot(zalo_api, pipeline, services.sessionmaker)
    try:
        tune(bot.worker)
        status, _ = await bot.post(zalo_api.media_event("u-media-1", jpeg_with_gps()))
        assert status == 200
        await bot.settle()
        [photo] = seen.last.media
        assert seen.last.media_problem is None and is_stored_ref(photo.ref)
        assert_clean_jpeg(assert_named_by_hash(media_root(bot.worker), photo.ref))

        zalo_api.fail(MEDIA, *[Fault(status=502)] * 3)
        await bot.post(zalo_api.media_event("u-media-1", jpeg_with_gps(color=(1, 2, 3))))
        await bot.settle()
        assert seen.last.media_problem == "Chưa nhận được ảnh, xin gửi lại."
        assert zalo_api.calls[MEDIA] == 4  # one, then three tries
    finally:
        await bot.close()


async def test_a_zalo_attachment_off_zalos_hosts_is_not_fetched(zalo_api, app_parts, seen):
    """The attachment URL comes in the (signed) event: only Zalo's file hosts are fetched
    (`zalo.media_hosts`; here the fake's 127.0.0.1), never wherever a payload points."""
    services, _engine, pipeline = app_parts
    bot = await start_bot(zalo_api, pipeline, services.sessionmaker)
    try:
        tune(bot.worker)
        event = zalo_api.media_event("u-media-2", jpeg_with_gps())
        attachment = event["message"]["attachments"][0]["payload"]
        attachment["url"] = attachment["url"].replace("127.0.0.1", "localhost")  # same server
        status, _ = await bot.post(event)
        assert status == 200
        await bot.settle()
        assert seen.last.media_problem == "Chưa nhận được ảnh, xin gửi lại."
        assert zalo_api.calls.get(MEDIA, 0) == 0
    finally:
        await bot.close()


def test_zalo_media_hosts_match_the_host_or_its_subdomains() -> None:
    from bot.config import ZaloSettings

    zs = ZaloSettings()
    assert zs.media_host_allowed("https://photo-stal-9.zadn.vn/a/b.jpg")
    assert zs.media_host_allowed("https://zadn.vn/x")
    assert not zs.media_host_allowed("https://evilzadn.vn/x")  # not a subdomain
    assert not zs.media_host_allowed("https://zadn.vn.evil.example/x")
    assert not zs.media_host_allowed("https://zadn.vn@evil.example/x")  # the host is evil.example
    assert not zs.media_host_allowed("ftp://zadn.vn/x")
    assert not zs.media_host_allowed("http://[::1/x")  # not a URL


async def test_a_download_that_hangs_is_cut_and_tried_again(telegram, seen):
    slept = tune(telegram.worker, download_timeout_seconds=0.3)
    telegram.api.slow("download", delay=3.0)
    await send(telegram, telegram.api.photo_update(CHAT, data=jpeg_with_gps()))
    assert seen.last.media_problem is None and is_stored_ref(seen.last.media[0].ref)
    assert len(downloads(telegram.api)) == 2 and len(slept) == 1
