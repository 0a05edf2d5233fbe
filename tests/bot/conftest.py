"""Fixtures for the bot's own tests."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from bot.app import build_web_app, build_worker


@pytest.fixture
async def server(app_parts):
    """The bot's web app (chat page, API, /healthz) on a real loopback port."""
    services, engine, pipeline = app_parts
    srv = TestServer(build_web_app(services, engine, build_worker(pipeline)), host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()
