"""Checks by content, cleaning, the store and the capped download, without a channel."""

from __future__ import annotations

import asyncio
import io
import struct

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from bot.media.checks import MediaRefused, check, clean_image, sniff_audio
from bot.media.download import DownloadFailed, fetch_url
from bot.media.store import MediaStore, is_stored_ref, refs_in
from tests.media.helpers import assert_clean_jpeg, assert_named_by_hash, jpeg_with_gps

MAX_PIXELS = 50_000_000


def test_exif_and_gps_are_removed_and_orientation_kept(tmp_path):
    checked = clean_image(jpeg_with_gps(), MAX_PIXELS)
    assert checked.mime_type == "image/jpeg" and checked.ext == "jpg"
    (tmp_path / "a.jpg").write_bytes(checked.data)
    assert_clean_jpeg(tmp_path / "a.jpg")


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_lose_their_metadata_too(fmt):
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (15.0, 5.0, 31.5)}
    out = io.BytesIO()
    Image.new("RGBA", (30, 10), (1, 2, 3, 128)).save(out, fmt, exif=exif.tobytes())
    assert Image.open(io.BytesIO(out.getvalue())).getexif()  # the premise: it has EXIF
    checked = clean_image(out.getvalue(), MAX_PIXELS)
    with Image.open(io.BytesIO(checked.data)) as im:
        assert im.format == fmt and not dict(im.getexif()) and "exif" not in im.info
        assert im.size == (30, 10) and im.mode == "RGBA"


@pytest.mark.parametrize(
    "data",
    [
        b"Xin chao, day khong phai la anh\n" * 20,  # text renamed .jpg
        b"\xff\xd8\xff\xe0" + b"\x00JFIF" + b"x" * 2048,  # a JPEG's magic, then nothing valid
        b"GIF89a" + b"\x00" * 100,
        b"",
    ],
)
def test_what_is_not_a_jpeg_png_or_webp_is_refused(data):
    with pytest.raises(MediaRefused) as refused:
        check(data, "image", MAX_PIXELS)
    assert refused.value.code in ("not_image", "empty")


def test_a_gif_that_pillow_reads_is_still_refused():
    out = io.BytesIO()
    Image.new("P", (5, 5)).save(out, "GIF")
    with pytest.raises(MediaRefused, match="not_image"):
        clean_image(out.getvalue(), MAX_PIXELS)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height (a decompression bomb's header): signature + IHDR."""
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 1024)
    chunk += (
        struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = _png_header_only(30_000, 30_000)  # 900 megapixels in a kilobyte
    with pytest.raises(MediaRefused, match="too_many_pixels"):
        clean_image(bomb, 1_000_000)
    assert Image.MAX_IMAGE_PIXELS == 1_000_000  # Pillow's own guard at the same cap
    with pytest.raises(MediaRefused, match="too_many_pixels"):
        clean_image(bomb, MAX_PIXELS)  # the default cap: 900 megapixels are refused too


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead\x01\x01" + b"\x00" * 30, "audio/ogg"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis" + b"\x00" * 30, "audio/ogg"),
        (b"ID3\x04\x00\x00" + b"\x00" * 60, "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + b"\x00" * 60, "audio/mpeg"),
        (b"\xff\xf1\x50\x80" + b"\x00" * 60, "audio/aac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 40, "audio/mp4"),
        (b"#!AMR\n" + b"\x3c" * 60, "audio/amr"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40, "audio/wav"),
        (
            b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + b"\0" * 9,
            "audio/webm",
        ),
    ],
)
def test_audio_is_known_by_its_first_bytes(data, mime):
    assert check(data, "audio", MAX_PIXELS).mime_type == mime


@pytest.mark.parametrize(
    "data",
    [
        b"Day la van ban, khong phai am thanh" * 3,  # text renamed .mp3
        b"OggS\x00\x02" + b"\x00" * 22 + b"\x80theora" + b"\x00" * 30,  # an OGG video
        b"\x00\x00\x00\x20ftypqt  " + b"\x00" * 40,  # a QuickTime movie
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,  # a JPEG
    ],
)
def test_what_is_not_audio_is_refused(data):
    assert sniff_audio(data) is None
    with pytest.raises(MediaRefused, match="not_audio"):
        check(data, "audio", MAX_PIXELS)


def test_store_names_by_content_hash_and_keeps_one_copy(tmp_path):
    store = MediaStore(tmp_path)
    data = clean_image(jpeg_with_gps(), MAX_PIXELS).data
    ref = store.put(data, "jpg")
    assert store.put(data, "jpg") == ref and is_stored_ref(ref)
    assert_named_by_hash(tmp_path, ref)
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1
    assert store.read(ref) == data
    assert list(refs_in({"photo": {"ref": ref}, "x": [ref, "media/que-tra-bong.jpg"]})) == [ref] * 2
    assert not is_stored_ref("media/que-tra-bong.jpg") and store.path("media/../../etc") is None
    assert store.delete(ref) and store.read(ref) is None


@pytest.fixture
async def endless_server():
    """A server whose file never ends (chunked, no Content-Length); counts what it wrote."""
    sent = {"bytes": 0, "done": asyncio.Event()}

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for _ in range(100_000):  # 6.5 GB if nobody stopped reading
                await resp.write(b"\xff" * 65536)
                sent["bytes"] += 65536
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sent["done"].set()
        return resp

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="no")

    app = web.Application()
    app.router.add_get("/endless", endless)
    app.router.add_get("/status/{code}", status)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", sent
    finally:
        await runner.cleanup()


async def test_a_download_stops_at_the_cap_without_reading_the_rest(endless_server):
    url, sent = endless_server
    async with aiohttp.ClientSession() as session:
        with pytest.raises(MediaRefused, match="too_large"):
            await asyncio.wait_for(fetch_url(session, f"{url}/endless", 256 * 1024), 20)
    await asyncio.wait_for(sent["done"].wait(), 10)
    assert sent["bytes"] < 64 * 1024 * 1024  # socket buffers, not 6.5 GB


async def test_which_failures_are_retried(endless_server):
    url, _sent = endless_server
    async with aiohttp.ClientSession() as session:
        for code, retryable in ((500, True), (503, True), (429, True), (404, False), (403, False)):
            with pytest.raises(DownloadFailed) as failed:
                await fetch_url(session, f"{url}/status/{code}", 1024)
            assert failed.value.retryable is retryable and url not in str(failed.value)
        with pytest.raises(DownloadFailed) as failed:
            await fetch_url(session, "http://127.0.0.1:1/x?token=secret", 1024)
        assert failed.value.retryable and "secret" not in str(failed.value)
