# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""One table of steps drives the same form through the web chat, the console, Telegram (fake Bot
API) and Zalo (fake API), each wired as production wires it (adapter, inbound worker, sender).

A step is typed text, a button pressed (a Telegram callback, a web chat payload; on channels
without buttons the number typed), a photo or a location (sent where the channel carries them;
elsewhere the optional field is skipped), and what the bot's replies to it must contain.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.app import build_pipeline, build_web_app, build_worker
from bot.channels.console import run_console
from bot.messages import Reply, render_numbered
from tests.channels.conftest import TelegramHarness
from tests.channels.conftest_zalo import start_bot, zalo_api  # noqa: F401
from tests.channels.web_helpers import post, visitor
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.zalo_api import event

_ids = itertools.count(8_800_000_001)

START = "@form channels {}"
STEPS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("text", "/lang vi", ("Tiếng Việt",)),  # else the bot asks for a language after a message
    ("text", START, ("Loại hỗ trợ nước?", "Giếng")),
    ("press", 2, ("Bao nhiêu hộ?", "(đơn vị: hộ)")),
    ("text", "mười hai", ("Nhập một số, ví dụ 12.", "Bao nhiêu hộ?")),
    ("text", "12 hộ", ("Ghi chú?",)),
    ("text", "quay lại", ("Bao nhiêu hộ?",)),
    ("text", "1.500", ("Ghi chú?",)),
    ("text", "hỗ trợ làm nhà bao nhiêu", ("40 triệu", "Tiếp tục Phiếu kênh:", "Ghi chú?")),
    ("text", "bỏ qua", ("Gửi ảnh.",)),
    ("photo", None, ("Gửi vị trí.",)),
    ("location", None, ("Kiểm tra lại Phiếu kênh:", "- Loại: Ống dẫn nước", "- Số hộ: 1.500 hộ")),
    ("press", 2, ("Bạn muốn sửa mục nào?",)),
    ("press", 1, ("Loại hỗ trợ nước?",)),
    ("press", 3, ("Kiểm tra lại Phiếu kênh:", "- Loại: Giếng")),
    ("press", 1, ("Đã nhận channels:", '"households": 1500', '"water": "well"')),
]


class Driver:
    media = False  # photos and locations

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def text(self, s: str) -> list[str]: ...
    async def press(self, n: int) -> list[str]: ...
    async def photo(self) -> list[str]: ...
    async def location(self) -> list[str]: ...


class WebDriver(Driver):
    def __init__(self, parts: tuple) -> None:
        services, engine, pipeline = parts
        self.server = TestServer(build_web_app(services, engine, build_worker(pipeline)))
        self.buttons: list[str] = []

    async def start(self) -> None:
        await self.server.start_server()
        self._visitor = visitor(self.server)
        self.session = await self._visitor.__aenter__()

    async def close(self) -> None:
        await self._visitor.__aexit__(None, None, None)
        await self.server.close()

    async def _send(self, **body: Any) -> list[str]:
        status, got = await post(self.session, self.server, message_id=str(next(_ids)), **body)
        assert status == 200, got
        self.buttons = [b["payload"] for r in got["replies"] for b in r.get("buttons", [])]
        return [render_numbered(Reply.from_dict(r)) for r in got["replies"]]

    async def text(self, s: str) -> list[str]:
        return await self._send(text=s, lang="vi")

    async def press(self, n: int) -> list[str]:
        return await self._send(payload=self.buttons[n - 1], lang="vi")


class ConsoleDriver(Driver):
    """`run_console` reading lines from a queue, its output collected."""

    class In:
        def __init__(self) -> None:
            self.q: queue.Queue[str] = queue.Queue()

        def readline(self) -> str:
            return self.q.get()

    class Out:
        def __init__(self) -> None:
            self.parts: list[str] = []

        def write(self, s: str) -> None:
            self.parts.append(s)

        def flush(self) -> None:
            pass

    def __init__(self, parts: tuple) -> None:
        self.worker = build_worker(parts[2])
        self.stdin, self.stdout = self.In(), self.Out()

    async def start(self) -> None:
        self.task = asyncio.create_task(
            run_console(self.worker, self.stdin, self.stdout, sender="c1", lang="vi")  # type: ignore[arg-type]
        )
        await asyncio.sleep(0)

    async def close(self) -> None:
        self.stdin.q.put("")  # end of input
        await asyncio.wait_for(self.task, 10)

    async def text(self, s: str) -> list[str]:
        before = len(self.stdout.parts)
        self.stdin.q.put(s + "\n")
        async with asyncio.timeout(10):
            while len(self.stdout.parts) == before:
                await asyncio.sleep(0.01)
        return ["".join(self.stdout.parts[before:])]

    async def press(self, n: int) -> list[str]:
        return await self.text(str(n))


class TelegramDriver(Driver):
    media = True

    def __init__(self, parts: tuple, settings: Any, api: FakeTelegramAPI) -> None:
        self.api = api
        self.h = TelegramHarness(api, parts, settings, "polling")
        self.chat = next(_ids)

    async def start(self) -> None:
        await self.h.start()

    async def close(self) -> None:
        await self.h.close()

    async def _push(self, update: dict) -> list[str]:
        before = len(self.api.sent(self.chat))
        await self.h.push(update)
        await self.h.settle()
        out = []
        for call in self.api.sent(self.chat)[before:]:
            labels = [b["text"] for row in self._keyboard(call.params) for b in row]
            out.append("\n".join([call.params.get("text") or "", *labels]))
        return out

    @staticmethod
    def _keyboard(params: dict) -> list[list[dict]]:
        markup = params.get("reply_markup")
        markup = json.loads(markup) if isinstance(markup, str) else markup
        return (markup or {}).get("inline_keyboard") or []

    async def text(self, s: str) -> list[str]:
        return await self._push(self.api.text_update(self.chat, s))

    async def press(self, n: int) -> list[str]:
        last = self.api.sent(self.chat)[-1].params
        data = [b["callback_data"] for row in self._keyboard(last) for b in row]
        return await self._push(self.api.callback_update(self.chat, data[n - 1]))

    async def photo(self) -> list[str]:
        return await self._push(self.api.photo_update(self.chat))

    async def location(self) -> list[str]:
        return await self._push(self.api.location_update(self.chat))


class ZaloDriver(Driver):
    media = True

    def __init__(self, parts: tuple, fake: Any) -> None:
        self.parts, self.fake = parts, fake
        self.user = str(next(_ids))

    async def start(self) -> None:
        services, _, pipeline = self.parts
        self.bot = await start_bot(self.fake, pipeline, services.sessionmaker)

    async def close(self) -> None:
        await self.bot.close()

    async def _post(self, ev: dict) -> list[str]:
        before = len(self.fake.texts(self.user))
        status, _ = await self.bot.post(ev)
        assert status == 200
        await self.bot.settle()
        return self.fake.texts(self.user)[before:]

    async def text(self, s: str) -> list[str]:
        return await self._post(event("user_send_text", self.user, text=s))

    async def press(self, n: int) -> list[str]:
        return await self.text(str(n))  # Zalo shows buttons as numbered options

    async def photo(self) -> list[str]:
        return await self._post(self.fake.media_event(self.user))  # a photo the fake serves

    async def location(self) -> list[str]:
        return await self._post(event("user_send_location", self.user))


@pytest.fixture(params=["web", "console", "telegram", "zalo"])
async def driver(
    request, app_parts, form_services, settings, zalo_api: Any
) -> AsyncIterator[Driver]:
    parts = (form_services, app_parts[1], build_pipeline(form_services))
    if request.param == "telegram":
        async with FakeTelegramAPI() as api:
            d: Driver = TelegramDriver(parts, settings, api)
            await d.start()
            try:
                yield d
            finally:
                await d.close()
        return
    d = {"web": WebDriver, "console": ConsoleDriver}.get(request.param)
    d = d(parts) if d is not None else ZaloDriver(parts, zalo_api)
    await d.start()
    try:
        yield d
    finally:
        await d.close()


async def test_the_same_form_on_every_channel(driver: Driver) -> None:
    for kind, arg, expected in STEPS:
        if kind in ("photo", "location") and not driver.media:
            replies = await driver.text("bỏ qua")  # no media here: the optional field skipped
        elif kind == "text":
            replies = await driver.text(arg)
        elif kind == "press":
            replies = await driver.press(arg)
        else:
            replies = await getattr(driver, kind)()
        said = "\n".join(replies)
        for part in expected:
            assert part in said, (kind, arg, said)
    if driver.media:
        assert "- Ảnh: đã gửi ảnh" in said or '"photo": {' in said
        assert '"place": {"latitude":' in said
