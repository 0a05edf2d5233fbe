"""Fixtures for the media tests: SQLite only (what is tested here does not touch the database
beyond the turn), the turn's message recorded, the media step's settings at hand."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.channels.conftest import TelegramHarness
from tests.fakes.telegram_api import FakeTelegramAPI


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path):  # SQLite is enough here
    from bot.storage.db import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    upgrade(url)
    return url


class Seen:
    """The messages the pipeline was given (what the turn, so the form engine, sees)."""

    def __init__(self, pipeline: Any) -> None:
        self.messages: list[Any] = []
        inner = pipeline.handle

        async def handle(msg: Any) -> Any:
            self.messages.append(msg)
            return await inner(msg)

        pipeline.handle = handle

    @property
    def last(self) -> Any:
        return self.messages[-1]


@pytest.fixture
def seen(app_parts: tuple) -> Seen:
    return Seen(app_parts[2])


def tune(worker: Any, **media: Any) -> list[float]:
    """Change the media step's settings on a running worker; its backoff sleeps are recorded
    (and not slept)."""
    step = worker.media
    step.settings = dataclasses.replace(step.settings, **media)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    step.sleep = sleep
    return slept


@pytest.fixture
async def telegram(app_parts: tuple, settings: Any) -> AsyncIterator[TelegramHarness]:
    async with FakeTelegramAPI() as api:
        harness = TelegramHarness(api, app_parts, settings, "polling")
        await harness.start()
        try:
            yield harness
        finally:
            await harness.close()
