"""The Zalo Bot Platform channel end to end, against the fake Bot API (tests/fakes/zalo_bot_api):
the channel, the inbound worker, the sender core and the dispatcher as production wires them, in
polling and in webhook mode, on SQLite and PostgreSQL.

`ZaloBotHarness` is one "process" at a time (`start`, `stop`), like tests/channels/conftest.py's
TelegramHarness; tests/channels/test_contract.py drives it through the table of cases every
channel passes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import build_worker
from bot.channels.zalo_bot import (
    CHANNEL,
    SECRET_HEADER,
    ApiError,
    BotApi,
    ZaloBotChannel,
    classify,
    webhook_path,
)
from bot.config import ZaloBotSettings
from bot.errors import StartupError
from bot.inbound.worker import InboundWorker
from bot.messages import Button, Reply
from bot.storage.models import InboxEntry
from tests.channels.conftest import FAST_RETRIES, send_and_wait, settle_worker
from tests.fakes.telegram_api import sample_jpeg
from tests.fakes.zalo_bot_api import FakeZaloBotAPI

SECRET = "zalo-bot_Secret-0123"
HELP = "Tôi có thể giúp bạn"
TEXT_ONLY = "Tôi chỉ đọc được tin nhắn chữ"
ROOT = Path(__file__).resolve().parents[2]


class ZaloBotHarness:
    """A running ZaloBotChannel, the fake API it talks to, and, in webhook mode, its route."""

    def __init__(self, api: FakeZaloBotAPI, app_parts: tuple, settings: Any, mode: str) -> None:
        self.api = api
        self.services, self.engine, self.pipeline = app_parts
        self.settings = settings
        self.mode = mode
        self.channel: ZaloBotChannel | None = None
        self.worker: InboundWorker | None = None
        self._workers: list[InboundWorker] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    def bot_settings(self, **overrides: Any) -> ZaloBotSettings:
        webhook_url = ""
        if self.mode == "webhook":
            if not self._port:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))
                    self._port = sock.getsockname()[1]
            webhook_url = f"http://127.0.0.1:{self._port}/zalo-bot/webhook"
        values: dict[str, Any] = dict(
            token=self.api.token,
            api_base_url=self.api.url,
            webhook_url=webhook_url,
            webhook_secret=SECRET if webhook_url else "",
            rate_per_second=1000.0,
            rate_per_chat_seconds=0.0,
        )
        values.update(overrides)
        return ZaloBotSettings(**values)

    def build(self, pipeline: Any = None, **overrides: Any) -> ZaloBotChannel:
        channel = ZaloBotChannel(
            self.bot_settings(**overrides),
            content_dir=ROOT / "content",
            poll_timeout=1.0,
            request_timeout=3.0,
            rate_limit_pause=0.05,
        )
        self.worker = build_worker(pipeline or self.pipeline, [channel], FAST_RETRIES)
        self.worker.dispatcher.poll_interval = 0.1
        self._workers.append(self.worker)
        return channel

    async def start(self, pipeline: Any = None, **overrides: Any) -> ZaloBotChannel:
        channel = self.build(pipeline, **overrides)
        if self.mode == "webhook":
            if self._runner is not None:
                await self._runner.cleanup()
            app = web.Application()
            channel.register_routes(app)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self._port, reuse_address=True).start()
            if not self.api.webhook.get("url"):
                from bot.channels.zalo_bot_cli import set_webhook

                await set_webhook(channel.settings)
        assert self.worker is not None
        await channel.start(self.worker)
        await self.worker.start()
        self.channel = channel
        return channel

    async def stop(self) -> None:
        assert self.worker is not None and self.channel is not None
        await self.worker.stop(grace=2)
        await self.channel.stop()

    async def push(self, update: dict, **kw: Any) -> int | None:
        """Send an update the way Zalo would in this mode; the webhook's HTTP status, if any."""
        if self.mode == "webhook":
            return await self.api.deliver(update, **kw)
        self.api.enqueue(update)
        return None

    async def settle(self, timeout: float = 10.0) -> None:
        if self.mode == "polling":  # taken, and recorded: the poller asked for more since
            await self.api.wait_for(polled_all, timeout=timeout)
        assert self.worker is not None
        await settle_worker(self.worker, timeout)

    async def inbox(self) -> list[InboxEntry]:
        async with self.services.sessionmaker() as session:
            query = select(InboxEntry).where(InboxEntry.channel == CHANNEL)
            return list((await session.execute(query.order_by(InboxEntry.id))).scalars())

    async def close(self) -> None:
        for worker in self._workers:
            await worker.stop(grace=2)
            for channel in worker.channels.values():
                await channel.stop()
        if self._runner is not None:
            await self._runner.cleanup()


def polled_all(api: FakeZaloBotAPI) -> bool:
    """Every queued update was taken, and the poller asked again after the last one (so it was
    recorded: the poller records a batch before it asks for the next)."""
    if api.updates:
        return False
    polls = api.calls_of("getUpdates")
    return bool(polls) and (polls[-1].status in (None, 408))


@pytest.fixture
async def zalo_bot_api() -> AsyncIterator[FakeZaloBotAPI]:
    async with FakeZaloBotAPI() as api:
        yield api


@pytest.fixture(params=["polling", "webhook"])
async def harness(
    request: pytest.FixtureRequest, zalo_bot_api: FakeZaloBotAPI, app_parts: tuple, settings: Any
) -> AsyncIterator[ZaloBotHarness]:
    h = ZaloBotHarness(zalo_bot_api, app_parts, settings, request.param)
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def bot(harness: ZaloBotHarness) -> ZaloBotHarness:
    """A started channel in polling or webhook mode (for what differs between them)."""
    await harness.start()
    return harness


@pytest.fixture
async def polling(
    zalo_bot_api: FakeZaloBotAPI, app_parts: tuple, settings: Any
) -> AsyncIterator[ZaloBotHarness]:
    """A started channel in polling mode, for what is the same in both modes (parsing, sending)."""
    h = ZaloBotHarness(zalo_bot_api, app_parts, settings, "polling")
    try:
        await h.start()
        yield h
    finally:
        await h.close()


USER = "e4ea2cd5189df1c3a88c"


async def test_a_message_is_answered(bot: ZaloBotHarness) -> None:
    status = await bot.push(bot.api.text_update(USER, "/help"))
    await bot.settle()
    assert status in (None, 200)
    [reply] = bot.api.sent(USER)
    assert reply.method == "sendMessage" and HELP in reply.params["text"]
    assert [row.status for row in await bot.inbox()] == ["done"]


async def test_the_webhook_body_in_its_envelope_is_the_same_update(
    zalo_bot_api, app_parts, settings
):
    h = ZaloBotHarness(zalo_bot_api, app_parts, settings, "webhook")
    try:
        await h.start()
        update = h.api.text_update(USER, "/help")
        assert await h.push(update, wrapped=True) == 200
        assert await h.push(update) == 200  # the same message again, without the envelope
        await h.settle()
        assert len(h.api.sent(USER)) == 1
        [row] = await h.inbox()
        assert row.message_id == update["message"]["message_id"] and row.status == "done"
    finally:
        await h.close()


async def test_buttons_go_out_as_numbered_options_and_a_number_picks_one(polling: ZaloBotHarness):
    await polling.push(polling.api.text_update(USER, "/start"))
    await polling.settle()
    texts = polling.api.texts(USER)
    menu = next(t for t in texts if "1. " in t)
    assert "\n2. " in menu
    before = len(texts)
    await polling.push(polling.api.text_update(USER, "1"))  # the first option: Tiếng Việt
    await polling.settle()
    assert len(polling.api.texts(USER)) > before


async def test_a_sticker_gets_a_polite_answer(polling: ZaloBotHarness) -> None:
    await polling.push(polling.api.sticker_update(USER))
    await polling.settle()
    assert any(TEXT_ONLY in t for t in polling.api.texts(USER))


async def test_a_photo_in_is_downloaded_checked_and_stored(polling: ZaloBotHarness) -> None:
    url = polling.api.add_media(sample_jpeg())
    await polling.push(polling.api.image_update(USER, url, caption="ảnh ruộng"))
    await polling.settle()
    store = polling.settings.path(polling.settings.media.dir)
    stored = [p for p in store.rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].suffix == ".jpg"
    assert polling.api.texts(USER), "the photo was answered"


async def test_group_messages_and_other_events_are_not_recorded(bot: ZaloBotHarness) -> None:
    group = bot.api.text_update(USER, "/help")
    group["message"]["chat"]["chat_type"] = "GROUP"
    await bot.push(group)
    await bot.push({"event_name": "message.unsupported.received", "message": {"x": 1}})
    await bot.push(bot.api.text_update(USER, "/help"))
    await bot.settle()
    assert len(bot.api.sent(USER)) == 1
    assert len(await bot.inbox()) == 1


async def test_a_malformed_update_is_recorded_rejected_and_never_handled(bot: ZaloBotHarness):
    bad = bot.api.text_update(USER, "/help")
    bad["message"]["chat"]["id"] = ["not", "an", "id"]
    status = await bot.push(bad)
    await bot.push(bot.api.text_update(USER, "/help"))
    await bot.settle()
    assert status in (None, 200)
    assert sorted(row.status for row in await bot.inbox()) == ["done", "rejected"]
    assert len(bot.api.sent(USER)) == 1


async def test_replies_survive_5xx_timeouts_and_the_quota(polling: ZaloBotHarness) -> None:
    polling.api.fail("sendMessage", 502)
    polling.api.fail("sendMessage", 429, retry_after=0)
    polling.api.fail("sendMessage", 503, delay=4.0)  # answered after the client gave up
    await polling.push(polling.api.text_update(USER, "/help"))
    await polling.settle(timeout=20)
    assert len(polling.api.sent(USER)) == 1 and HELP in polling.api.texts(USER)[0]
    assert len(polling.api.calls_of("sendMessage")) == 4  # three failures (FAST_RETRIES: 4 tries)


async def test_an_error_in_a_200_answer_is_an_error(zalo_bot_api: FakeZaloBotAPI) -> None:
    api = BotApi(ZaloBotSettings(token=zalo_bot_api.token, api_base_url=zalo_bot_api.url))
    try:
        zalo_bot_api.fail("sendMessage", 500, http_status=200)
        with pytest.raises(ApiError) as info:
            await api.call("sendMessage", {"chat_id": USER, "text": "x"})
        assert info.value.code == 500 and classify(info.value).retryable
        zalo_bot_api.fail("sendMessage", 429, retry_after=12)
        with pytest.raises(ApiError) as info:
            await api.call("sendMessage", {"chat_id": USER, "text": "x"})
        assert classify(info.value).retry_after == 12
        assert (await api.call("sendMessage", {"chat_id": USER, "text": "x"}))["message_id"]
    finally:
        await api.close()


async def test_polling_goes_on_after_errors(zalo_bot_api, app_parts, settings) -> None:
    h = ZaloBotHarness(zalo_bot_api, app_parts, settings, "polling")
    try:
        zalo_bot_api.fail("getUpdates", 502)
        zalo_bot_api.fail("getUpdates", 0, not_json=True)
        await h.start()
        await h.push(zalo_bot_api.text_update(USER, "/help"))
        await h.settle(timeout=15)
        assert len(zalo_bot_api.sent(USER)) == 1
        assert not zalo_bot_api.calls_of("getUpdates", ok=False)[0].ok
    finally:
        await h.close()


async def test_a_polled_update_is_recorded_even_when_the_database_hiccups(
    zalo_bot_api, app_parts, settings
) -> None:
    """getUpdates cannot be asked again for an update: the poller keeps it until recorded."""
    h = ZaloBotHarness(zalo_bot_api, app_parts, settings, "polling")
    try:
        channel = await h.start()
        assert h.worker is not None
        real, fails = h.worker.accept, [2]

        async def flaky(name: str, payloads: Any) -> int:
            if fails[0]:
                fails[0] -= 1
                raise RuntimeError("database locked")
            return await real(name, payloads)

        h.worker.accept = flaky  # type: ignore[method-assign]
        channel.worker = h.worker
        await h.push(zalo_bot_api.text_update(USER, "/help"))
        await zalo_bot_api.wait_for(lambda api: bool(api.sent(USER)), timeout=15)
        await h.settle(timeout=15)
        assert fails == [0] and len(zalo_bot_api.sent(USER)) == 1
    finally:
        await h.close()


async def test_the_webhook_refuses_a_wrong_secret_before_reading(
    zalo_bot_api: FakeZaloBotAPI, app_parts: tuple, settings: Any
) -> None:
    h = ZaloBotHarness(zalo_bot_api, app_parts, settings, "webhook")
    try:
        await h.start()
        update = h.api.text_update(USER, "/help")
        for secret in ("", SECRET + "x", SECRET[:-1], SECRET.upper()):
            assert await h.api.deliver(update, secret=secret) == 403
        assert await h.api.deliver(update, body=b"[1, 2]") == 400
        assert await h.api.deliver(update, body=b"{not json") == 400
        await h.settle()
        assert await h.inbox() == [] and h.api.sent() == []
    finally:
        await h.close()


async def test_a_wrong_token_stops_the_start_without_showing_it(zalo_bot_api, app_parts, settings):
    h = ZaloBotHarness(zalo_bot_api, app_parts, settings, "polling")
    try:
        with pytest.raises(StartupError) as info:
            await h.start(token="1459232241454765289:WrongToken")
        assert "ZALO_BOT_TOKEN" in str(info.value) and "WrongToken" not in str(info.value)
        with pytest.raises(StartupError) as info:
            await h.start(api_base_url="http://127.0.0.1:9")
        assert "ZALO_BOT_API_BASE_URL" in str(info.value) and h.api.token not in str(info.value)
    finally:
        await h.close()


async def test_the_token_never_reaches_a_log(zalo_bot_api, caplog) -> None:
    """Errors that echo the request (a description with the URL in it) are redacted."""
    caplog.set_level(logging.DEBUG)
    token = zalo_bot_api.token
    s = ZaloBotSettings(token=token, api_base_url=zalo_bot_api.url)
    api = BotApi(s, request_timeout=2.0)
    try:
        zalo_bot_api.fail("sendMessage", 400, description=f"Bad request: /bot{token}/sendMessage")
        with pytest.raises(ApiError) as info:
            await api.call("sendMessage", {"chat_id": USER, "text": "x"})
        assert token not in str(info.value) and "<token>" in str(info.value)
        assert token not in classify(info.value).reason
        bad = BotApi(dataclasses.replace(s, api_base_url="http://127.0.0.1:9"), 1.0)
        with pytest.raises(ApiError) as info:
            await bad.call("getMe")
        assert info.value.code == 0 and token not in str(info.value)
        await bad.close()
    finally:
        await api.close()
    assert token not in caplog.text


def test_classify_says_what_an_error_means() -> None:
    assert classify(ApiError(429, "Quota exceeded", 7.0)).retry_after == 7.0
    assert classify(ApiError(429, "Quota exceeded"), pause=30).retry_after == 30
    assert classify(ApiError(502, "Bad Gateway")).retryable
    assert classify(ApiError(0, "ClientConnectorError")).retryable
    assert classify(ApiError(403, "Internal server error")).retryable
    refused = classify(ApiError(400, "Bad request"))
    assert not refused.retryable and not refused.gone
    assert "ZALO_BOT_TOKEN" in classify(ApiError(401, "Unauthorized")).reason


async def test_long_text_photo_and_links_out(polling: ZaloBotHarness, tmp_path: Path) -> None:
    assert polling.worker is not None and polling.channel is not None
    long = ("Câu dài về chính sách hỗ trợ. " * 120).strip()
    status, _ = await send_and_wait(polling.worker, CHANNEL, USER, Reply(text=long))
    assert status == "sent"
    texts = polling.api.texts(USER)
    assert len(texts) == 2 and all(len(t) <= 2000 for t in texts)
    assert " ".join(texts).split() == long.split()
    photo = Reply(text="Sản phẩm", photo="https://example.org/a.jpg", buttons=(Button("Có", "/y"),))
    status, _ = await send_and_wait(polling.worker, CHANNEL, USER, photo)
    call = polling.api.sent(USER)[-1]
    assert status == "sent" and call.method == "sendPhoto"
    assert call.params["photo"] == "https://example.org/a.jpg"
    assert call.params["caption"] == "Sản phẩm\n1. Có"
    doc = Reply(text="Mẫu đơn", document="https://example.org/don.pdf")
    await send_and_wait(polling.worker, CHANNEL, USER, doc)
    assert polling.api.texts(USER)[-2:] == ["Mẫu đơn", "https://example.org/don.pdf"]


async def test_a_content_photo_goes_by_its_public_url(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "media").mkdir(parents=True)
    (content / "media" / "que.jpg").write_bytes(sample_jpeg())
    webhook = ZaloBotSettings(
        token="1459232241454765289:x",
        webhook_url="https://bot.example.gov.vn/zalo-bot/webhook",
        webhook_secret=SECRET,
    )
    channel = ZaloBotChannel(webhook, content_dir=content)
    [part] = channel.parts(Reply(text="Quế Trà Bồng", photo="media/que.jpg"))
    assert (part.kind, part.value) == ("photo", "https://bot.example.gov.vn/media/que.jpg")
    polling = ZaloBotChannel(dataclasses.replace(webhook, webhook_url=""), content_dir=content)
    [part] = polling.parts(Reply(text="Quế Trà Bồng", photo="media/que.jpg"))
    assert (part.kind, part.value) == ("text", "Quế Trà Bồng")  # no public URL: text only
    assert polling.parts(Reply(text="x", photo="../../etc/passwd")) == [
        polling.parts(Reply("x"))[0]
    ]
    assert webhook_path(webhook) == "/zalo-bot/webhook"


async def test_a_refused_send_fails_for_good_with_its_reason(polling: ZaloBotHarness) -> None:
    assert polling.worker is not None
    polling.api.blocked.add("someone")
    polling.api.blocked_code = 400
    status, error = await send_and_wait(polling.worker, CHANNEL, "someone", Reply(text="xin chào"))
    assert status == "failed" and "400" in (error or "")
    assert len(polling.api.calls_of("sendMessage")) == 1  # not retried


async def test_the_secret_header_is_compared_in_constant_time(monkeypatch) -> None:
    import hmac

    from bot.channels import zalo_bot

    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(zalo_bot.hmac, "compare_digest", compare)
    s = ZaloBotSettings(
        token="1:x", webhook_url="https://h/zalo-bot/webhook", webhook_secret=SECRET
    )
    channel = ZaloBotChannel(s, content_dir=ROOT / "content")
    app = web.Application()
    channel.register_routes(app)
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/zalo-bot/webhook", data=b"{}", headers={SECRET_HEADER: "x"})
        assert resp.status == 403
    assert seen == [(b"x", SECRET.encode())]
    await channel.stop()


async def test_make_run_converses_in_both_modes(zalo_bot_api, tmp_path: Path) -> None:
    """A real `python -m bot run` process with only the ZALO_BOT_* variables set (and its own
    database), in polling mode and then in webhook mode."""
    from bot.channels.zalo_bot_cli import set_webhook
    from bot.storage.db import upgrade
    from tests.processes import BotProcess, free_port

    db_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    await asyncio.to_thread(upgrade, db_url)
    for mode in ("polling", "webhook"):
        port, user = free_port(), f"{USER}{mode}"
        env = {
            "DATABASE_URL": db_url,
            "ZALO_BOT_TOKEN": zalo_bot_api.token,
            "ZALO_BOT_API_BASE_URL": zalo_bot_api.url,
        }
        if mode == "webhook":
            env["ZALO_BOT_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/zalo-bot/webhook"
            env["ZALO_BOT_WEBHOOK_SECRET"] = SECRET
        proc = await BotProcess(env, tmp_path / f"{mode}.log", port=port).start()
        try:
            update = zalo_bot_api.text_update(user, "/help")
            if mode == "webhook":
                hook = ZaloBotSettings(
                    token=zalo_bot_api.token,
                    api_base_url=zalo_bot_api.url,
                    webhook_url=env["ZALO_BOT_WEBHOOK_URL"],
                    webhook_secret=SECRET,
                )
                await set_webhook(hook)
                assert await zalo_bot_api.deliver(update) == 200
            else:
                zalo_bot_api.enqueue(update)
            await zalo_bot_api.wait_for(lambda a, u=user: bool(a.sent(u)), timeout=30)
            assert HELP in zalo_bot_api.texts(user)[0], proc.tail()
        finally:
            await proc.terminate()
