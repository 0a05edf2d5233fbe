# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""One table of cases for every push channel: receive, replay, resume, poison, a failed send.

Each channel is driven through its own fake platform exactly as production wires it (the
adapter, the inbound worker, the sender core and the dispatcher), on SQLite and PostgreSQL. A
new channel adds a `Driver` below and passes the same table.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.storage.models import InboxEntry
from bot.storage.repositories import inbox
from tests.channels.conftest import TelegramHarness
from tests.channels.conftest_zalo import ZaloBot, start_bot, zalo_api  # noqa: F401
from tests.channels.test_zalo_bot import ZaloBotHarness
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.zalo_api import SEND, FakeZaloApi, Fault, event
from tests.fakes.zalo_bot_api import FakeZaloBotAPI

HELP = "Tôi có thể giúp bạn"
UNKNOWN = "Tôi không biết lệnh này"
_users = itertools.count(7_700_000_001)


class Driver:
    """What a case needs of a channel: say something as a user, see what came back, restart."""

    services: Any

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def say(self, user: str, text: str) -> dict: ...  # the payload, to replay it
    async def replay(self, payload: dict) -> None: ...
    def replies(self, user: str) -> list[str]: ...
    def fail_next_sends(self, times: int) -> None: ...
    def kill_after_recording(self) -> None: ...
    async def settle(self) -> None: ...

    def new_user(self) -> str:
        return str(next(_users))


class TelegramDriver(Driver):
    def __init__(self, harness: TelegramHarness) -> None:
        self.h, self.api, self.services = harness, harness.api, harness.services

    async def start(self) -> None:
        await self.h.start()

    async def stop(self) -> None:
        await self.h.stop(self.h.channel)

    async def say(self, user: str, text: str) -> dict:
        update, _status = await self.h.push(self.api.text_update(int(user), text))
        return update

    async def replay(self, payload: dict) -> None:
        await self.h.push(payload)

    def replies(self, user: str) -> list[str]:
        return self.api.texts(int(user))

    def fail_next_sends(self, times: int) -> None:
        self.api.fail("sendMessage", 502, times=times)

    def kill_after_recording(self) -> None:
        self.h.worker._schedule = lambda *_a: False  # type: ignore[method-assign]

    async def settle(self) -> None:
        await self.h.settle()


class ZaloDriver(Driver):
    def __init__(self, fake: FakeZaloApi, pipeline: Any, services: Any) -> None:
        self.fake, self.pipeline, self.services = fake, pipeline, services
        self.bot: ZaloBot | None = None

    async def start(self) -> None:
        self.bot = await start_bot(self.fake, self.pipeline, self.services.sessionmaker)

    async def stop(self) -> None:
        assert self.bot is not None
        await self.bot.close()
        self.bot = None

    async def say(self, user: str, text: str) -> dict:
        assert self.bot is not None
        payload = event("user_send_text", user, text=text)
        status, _ = await self.bot.post(payload)
        assert status == 200
        return payload

    async def replay(self, payload: dict) -> None:
        assert self.bot is not None
        assert (await self.bot.post(payload))[0] == 200

    def replies(self, user: str) -> list[str]:
        return self.fake.texts(user)

    def fail_next_sends(self, times: int) -> None:
        self.fake.fail(SEND, *[Fault(status=502)] * times)

    def kill_after_recording(self) -> None:
        assert self.bot is not None
        self.bot.worker._schedule = lambda *_a: False  # type: ignore[method-assign]

    async def settle(self) -> None:
        assert self.bot is not None
        await self.bot.settle()


class ZaloBotDriver(Driver):
    """The Zalo Bot Platform (tests/channels/test_zalo_bot.py's harness), polling or webhook."""

    def __init__(self, harness: ZaloBotHarness) -> None:
        self.h, self.api, self.services = harness, harness.api, harness.services

    async def start(self) -> None:
        await self.h.start()

    async def stop(self) -> None:
        await self.h.stop()

    async def say(self, user: str, text: str) -> dict:
        update = self.api.text_update(user, text)
        assert await self.h.push(update) in (None, 200)
        return update

    async def replay(self, payload: dict) -> None:
        await self.h.push(payload)

    def replies(self, user: str) -> list[str]:
        return self.api.texts(user)

    def fail_next_sends(self, times: int) -> None:
        self.api.fail("sendMessage", 502, times=times)

    def kill_after_recording(self) -> None:
        assert self.h.worker is not None
        self.h.worker._schedule = lambda *_a: False  # type: ignore[method-assign]

    async def settle(self) -> None:
        await self.h.settle()


CHANNELS = ["telegram-polling", "telegram-webhook", "zalo", "zalo_bot-polling", "zalo_bot-webhook"]


@pytest.fixture(params=CHANNELS)
async def driver(
    request: pytest.FixtureRequest, app_parts: tuple, settings: Any, zalo_api: FakeZaloApi
) -> AsyncIterator[Driver]:
    services, _engine, pipeline = app_parts
    if request.param.startswith("telegram"):
        async with FakeTelegramAPI() as api:
            harness = TelegramHarness(api, app_parts, settings, request.param.split("-")[1])
            d: Driver = TelegramDriver(harness)
            await d.start()
            try:
                yield d
            finally:
                await harness.close()
        return
    if request.param.startswith("zalo_bot"):
        async with FakeZaloBotAPI() as bot_api:
            bot = ZaloBotHarness(bot_api, app_parts, settings, request.param.split("-")[1])
            d = ZaloBotDriver(bot)
            await d.start()
            try:
                yield d
            finally:
                await bot.close()
        return
    d = ZaloDriver(zalo_api, pipeline, services)
    await d.start()
    try:
        yield d
    finally:
        if d.bot is not None:
            await d.bot.close()


async def inbox_statuses(d: Driver) -> list[str]:
    from sqlalchemy import select

    async with d.services.sessionmaker() as session:
        return list(
            (await session.execute(select(InboxEntry.status).order_by(InboxEntry.id))).scalars()
        )


async def case_receive(d: Driver) -> None:
    user = d.new_user()
    await d.say(user, "/help")
    await d.settle()
    assert len(d.replies(user)) == 1 and HELP in d.replies(user)[0]
    assert await inbox_statuses(d) == ["done"]


async def case_replay(d: Driver) -> None:
    user = d.new_user()
    payload = await d.say(user, "/help")
    await d.settle()
    await d.replay(payload)
    await d.settle()
    assert len(d.replies(user)) == 1


async def case_order(d: Driver) -> None:
    user = d.new_user()
    for text in ("/help", "/xyz", "/help"):
        await d.say(user, text)
    await d.settle()
    replies = d.replies(user)
    assert [HELP in r for r in replies] == [True, False, True] and UNKNOWN in replies[1]


async def case_resume(d: Driver) -> None:
    user = d.new_user()
    d.kill_after_recording()
    await d.say(user, "/help")
    await d.settle()  # recorded (and acknowledged), never handled
    assert d.replies(user) == [] and await inbox_statuses(d) == ["received"]
    await d.stop()
    await d.start()  # the next process resumes what was recorded
    await d.settle()
    assert len(d.replies(user)) == 1 and HELP in d.replies(user)[0]


async def case_poison(d: Driver) -> None:
    user = d.new_user()
    real, calls = d.services.nlu.parse, []

    async def parse(text: str, lang: str) -> Any:
        if "nhà" in text:
            calls.append(text)
            raise RuntimeError("bug")
        return await real(text, lang)

    d.services.nlu.parse = parse
    try:
        await d.say(user, "hỗ trợ làm nhà")
        await d.say(user, "/help")
        await d.settle()
    finally:
        d.services.nlu.parse = real
    assert len(calls) == inbox.MAX_ATTEMPTS
    assert await inbox_statuses(d) == ["failed", "done"]
    assert len(d.replies(user)) == 1 and HELP in d.replies(user)[0]


async def case_send_fails_after_commit(d: Driver) -> None:
    user = d.new_user()
    d.fail_next_sends(2)
    await d.say(user, "/help")
    await d.settle()
    assert len(d.replies(user)) == 1 and HELP in d.replies(user)[0]


CASES = [
    case_receive,
    case_replay,
    case_order,
    case_resume,
    case_poison,
    case_send_fails_after_commit,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
async def test_every_channel(driver: Driver, case: Any) -> None:
    await case(driver)
