"""PTB's networking backend on aiohttp (bot.channels.telegram_request): what PTB needs of it,
against the fake Bot API."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram import error as tg_error

from bot.channels.telegram import build_application
from bot.channels.telegram_request import AiohttpRequest
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import free_port


@pytest.fixture
async def api() -> Any:
    fake = await FakeTelegramAPI(max_poll_wait=1.0).start()
    try:
        yield fake
    finally:
        await fake.stop()


def test_the_application_sends_through_aiohttp_and_polls_through_its_own_request(
    settings: Any,
) -> None:
    tg = dataclasses.replace(settings.telegram, token="123:abc")
    bot = build_application(tg, request_timeout=7.0).bot
    request, polling = bot._request[1], bot._request[0]  # (getUpdates, everything else)
    assert isinstance(request, AiohttpRequest) and request.read_timeout == 7.0
    assert request.media_write_timeout == 30.0 and request.pool_timeout == 7.0
    assert not isinstance(polling, AiohttpRequest)  # long polls keep PTB's own pool


async def test_text_with_buttons_and_an_upload_reach_the_api(api: FakeTelegramAPI) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Có", callback_data="yes")]])
    async with Bot(api.token, base_url=api.base_url, request=AiohttpRequest()) as bot:
        sent = await bot.send_message(501, "xin chào", reply_markup=markup)
        photo = await bot.send_photo(501, b"\x89PNG\r\n\x1a\n" + b"0" * 64, caption="ảnh")
    assert sent.message_id and photo.message_id
    text, upload = api.calls_of("sendMessage")[-1], api.calls_of("sendPhoto")[-1]
    assert text.params["text"] == "xin chào" and "yes" in str(text.params["reply_markup"])
    assert upload.params["caption"] == "ảnh" and upload.files["photo"]


async def test_platform_errors_keep_their_meaning(api: FakeTelegramAPI) -> None:
    async with Bot(api.token, base_url=api.base_url, request=AiohttpRequest()) as bot:
        api.fail("sendMessage", 429, retry_after=3)
        with pytest.raises(tg_error.RetryAfter) as after:
            await bot.send_message(502, "x")
        assert after.value.retry_after in (3, 3.0) or after.value.retry_after.total_seconds() == 3
        api.fail("sendMessage", 403, description="Forbidden: bot was blocked by the user")
        with pytest.raises(tg_error.Forbidden):
            await bot.send_message(502, "x")


async def test_a_slow_api_is_timed_out(api: FakeTelegramAPI) -> None:
    request = AiohttpRequest(read_timeout=0.2, write_timeout=0.2)
    async with Bot(api.token, base_url=api.base_url, request=request) as bot:
        api.slow("sendMessage", delay=2.0)
        with pytest.raises(tg_error.TimedOut):
            await bot.send_message(503, "x")


async def test_an_unreachable_api_is_a_network_error_that_does_not_name_the_token() -> None:
    token = "123456:SECRET-token-value"
    request = AiohttpRequest(connect_timeout=1.0)
    bot = Bot(token, base_url=f"http://127.0.0.1:{free_port()}/bot", request=request)
    await request.initialize()
    try:
        with pytest.raises(tg_error.NetworkError) as err:
            await bot.send_message(504, "x")
    finally:
        await request.shutdown()
    assert not isinstance(err.value, tg_error.TimedOut)
    assert "SECRET" not in str(err.value) and "aiohttp." in str(err.value)
