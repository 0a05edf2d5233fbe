"""Shared fixtures: settings, a migrated database on SQLite and on PostgreSQL, services, pipeline.

Every storage test takes `db_url`, which runs it once on a SQLite file and once on the real
PostgreSQL server that `tests/postgres.py` starts for the test run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import func, select

from bot.config import Settings, load_settings
from bot.messages import IncomingMessage
from bot.storage.db import upgrade

pytest_plugins = ["tests.postgres", "tests.logscan"]

# Property tests: "ci" (10,000 examples, reproducible) unless HYPOTHESIS_PROFILE=dev (200 examples).
hypothesis_settings.register_profile(
    "ci",
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "dev",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "var" / "nlu" / "model.npz"
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def nlu_model() -> Path:
    """The trained model `make setup` builds; trained here when a test run starts without it."""
    if not MODEL.is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "nlu",
                "train",
                "--data",
                str(ROOT / "nlu" / "data"),
                "--out",
                str(MODEL),
            ],
            check=True,
            cwd=ROOT,
        )
    return MODEL


@pytest.fixture
def settings(nlu_model: Path, tmp_path: Path) -> Settings:
    loaded = load_settings(ROOT / "config.yml", env={})
    # /dulieu files go to the test's own folder, not the repository's var/exports.
    privacy = dataclasses.replace(loaded.privacy, export_dir=str(tmp_path / "exports"))
    media = dataclasses.replace(loaded.media, dir=str(tmp_path / "media"))  # users' photos too
    return dataclasses.replace(loaded, privacy=privacy, media=media)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated database: a SQLite file, or a new database on the test PostgreSQL
    server."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        upgrade(url)
        yield url
        return
    from tests.postgres import drop_database, fresh_database

    url = fresh_database(request.getfixturevalue("postgres_url"))
    try:
        upgrade(url)
        yield url
    finally:
        drop_database(url)


@pytest.fixture
async def app_parts(settings: Settings, db_url: str) -> AsyncIterator[tuple]:
    """(services, engine, pipeline) on the test database."""
    from bot.app import build_pipeline, build_services

    services, engine = await asyncio.to_thread(build_services, settings, db_url)
    try:
        yield services, engine, build_pipeline(services)
    finally:
        await engine.dispose()


@pytest.fixture
async def server(app_parts: tuple) -> AsyncIterator:
    """The bot's web app (chat page, API, /healthz) on a real loopback port."""
    from aiohttp.test_utils import TestServer

    from bot.app import build_web_app, build_worker

    services, engine, pipeline = app_parts
    srv = TestServer(build_web_app(services, engine, build_worker(pipeline)), host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
def count(services):
    """`await count(Model, *where)`: rows in the test database."""

    async def rows(model, *where) -> int:
        async with services.sessionmaker() as s:
            query = select(func.count()).select_from(model).where(*where)
            return (await s.execute(query)).scalar_one()

    return rows


@pytest.fixture
def pipeline(app_parts: tuple):
    return app_parts[2]


@pytest.fixture
def services(app_parts: tuple):
    return app_parts[0]


def message(
    text: str = "",
    *,
    sender: str = "u1",
    channel: str = "web",
    payload: str | None = None,
    lang: str | None = None,
    message_id: str | None = None,
    **kw,
) -> IncomingMessage:
    if len(text) >= 20 and " " in text:  # a sentence a person typed: never logged (tests/logscan)
        from tests.logscan import sensitive

        sensitive(text)
    return IncomingMessage(
        channel=channel,
        sender_id=sender,
        message_id=message_id or f"m{next(_ids)}",
        text=text,
        payload=payload,
        locale_hint=lang,
        **kw,
    )


def all_text(turn) -> str:
    from bot.messages import render_numbered

    return "\n".join(render_numbered(r) for r in turn.replies)
