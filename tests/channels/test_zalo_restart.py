# ruff: noqa: F811 - pytest fixtures imported from conftest_zalo are redefined as arguments
"""A bot process killed while processing: the recorded events are resumed when the bot starts again.

The first bot runs in a child process (channel and inbound worker wired as `serve` wires them)
whose processing never finishes; it is killed with SIGKILL after answering Zalo 200. A new bot on
the same database (SQLite and PostgreSQL) then answers. In process, a turn killed halfway
through its transaction is resumed and answered once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from tests.channels.conftest_zalo import (  # noqa: F401 - fixtures
    inbox_rows,
    outbox_rows,
    start_bot,
    zalo_api,
    zalo_settings,
)
from tests.fakes.zalo_api import FakeZaloApi, event, post_event

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import asyncio, json, os, sys
from aiohttp import web
from bot.app import build_services, build_worker
from bot.channels.zalo import ZaloChannel
from bot.config import ZaloSettings, load_settings


class Stuck:
    '''The real pipeline's services, but processing that never ends (until the kill).'''

    def __init__(self, services):
        self.services = services

    async def handle(self, msg):
        print("processing", flush=True)
        await asyncio.sleep(3600)


async def main():
    settings = load_settings(os.path.join(os.environ["ROOT"], "config.yml"), env={})
    services, engine = build_services(settings, os.environ["DB_URL"])
    channel = ZaloChannel(ZaloSettings(**json.loads(os.environ["ZALO"])), services.sessionmaker,
                          content_dir=settings.path(settings.content_dir))
    worker = build_worker(Stuck(services), [channel])
    app = web.Application()
    channel.register_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    await channel.start(worker)
    await worker.start()
    print("ready", site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
"""


async def _line(stream: asyncio.StreamReader, timeout: float = 60.0) -> str:
    line = await asyncio.wait_for(stream.readline(), timeout)
    assert line, "the child bot exited early"
    return line.decode().strip()


async def test_killed_during_processing_resumes_after_restart(
    zalo_api: FakeZaloApi, db_url: str, services: Any, pipeline: Any
) -> None:
    env = dict(
        os.environ,
        ROOT=str(ROOT),
        DB_URL=db_url,
        ZALO=json.dumps(dataclasses.asdict(zalo_settings(zalo_api))),
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        ready = await _line(child.stdout)
        assert ready.startswith("ready "), ready
        url = f"http://127.0.0.1:{ready.split()[1]}/zalo/webhook"
        text, follow = event("user_send_text", "u-kill", text="xin chào"), event("follow", "u-new")
        assert (await post_event(url, text))[0] == 200
        assert (await post_event(url, follow))[0] == 200
        assert await _line(child.stdout) == "processing"
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    assert zalo_api.sent == []
    rows = await inbox_rows(services.sessionmaker)
    assert [(r.status, r.payload is not None) for r in rows] == [("received", True)] * 2

    bot = await start_bot(zalo_api, pipeline, services.sessionmaker)  # start() resumes
    try:
        await bot.settle()
        assert "Làng Số" in zalo_api.texts("u-kill")[0]
        assert "Làng Số" in zalo_api.texts("u-new")[0]
        # Zalo retrying the event now changes nothing: it was answered once.
        count = len(zalo_api.sent)
        assert (await bot.post(text))[0] == 200
        await bot.settle()
        assert len(zalo_api.sent) == count
    finally:
        await bot.close()
    rows = await inbox_rows(services.sessionmaker)
    assert [(r.status, r.payload) for r in rows] == [("done", None), ("done", None)]


async def test_killed_in_the_middle_of_a_turn_is_resumed_and_answered_once(
    zalo_api: FakeZaloApi, services: Any, pipeline: Any
) -> None:
    """The inbox row is claimed inside the turn's transaction, which never commits (the task is
    cancelled, as by kill -9): the next process resumes it, and its replies go out once."""
    inside, never = asyncio.Event(), asyncio.Event()
    real_parse = services.nlu.parse

    async def hanging_parse(text: str, lang: str) -> Any:
        inside.set()
        await never.wait()

    services.nlu.parse = hanging_parse
    try:
        first = await start_bot(zalo_api, pipeline, services.sessionmaker)
        try:
            assert (await first.post(event("user_send_text", "u-mid", text="xin chào")))[0] == 200
            await asyncio.wait_for(inside.wait(), 10)  # claimed, mid-transaction
            for task in list(first.worker._tasks):  # nothing of this process finishes
                task.cancel()
            await asyncio.sleep(0.1)
        finally:
            await first.close()
    finally:
        services.nlu.parse = real_parse
    rows = await inbox_rows(services.sessionmaker)
    assert [(r.status, r.payload is not None) for r in rows] == [("received", True)]
    assert await outbox_rows(services.sessionmaker) == [] and zalo_api.sent == []

    bot = await start_bot(zalo_api, pipeline, services.sessionmaker)  # start() resumes
    try:
        await bot.settle()
    finally:
        await bot.close()
    texts = zalo_api.texts("u-mid")
    assert len(texts) == 2 and "Làng Số" in texts[0]
    assert [r.status for r in await outbox_rows(services.sessionmaker)] == ["sent", "sent"]
    assert [(r.status, r.payload) for r in await inbox_rows(services.sessionmaker)] == [
        ("done", None)
    ]
