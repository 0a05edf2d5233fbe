"""A real bot process on a PostgreSQL server of its own, the fake Telegram and Zalo APIs, and the
platforms' side of the webhooks (post, resend what got 503), for the outage, shutdown and pool
tests.

The server is a dedicated `tests.postgres.PostgresServer` (not the session's, which other tests
use), so it can be stopped, started again on the same port and data directory, or frozen
(SIGSTOP: a database that hangs instead of refusing). Commits are synchronous on it: an
immediate stop must not lose what was acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil

from bot.channels.zalo import WEBHOOK_PATH as ZALO_PATH
from bot.storage.db import upgrade
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, FakeZaloApi, event, sign
from tests.postgres import PostgresServer, _run_sql
from tests.processes import BotProcess

SECRET = "outage_Secret-42"
TELEGRAM_PATH = "/telegram/webhook"


@dataclass
class Answer:
    status: int | str  # the HTTP status, or the client error's name (the bot was not listening)
    seconds: float
    retry_after: str | None = None
    body: str = ""


@dataclass
class Offer:
    """One platform update and every answer the bot gave to its deliveries."""

    kind: str  # "telegram" | "zalo"
    user: str
    payload: dict[str, Any]
    answers: list[Answer] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return any(a.status == 200 for a in self.answers)


class Platforms:
    """A dedicated PostgreSQL, the fake platforms, and a bot process on them."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.tmp = tmp
        self.extra_env = env
        self.pg = PostgresServer(tmp_parent=None)
        self.bot: BotProcess | None = None
        self._chats = itertools.count(7_100_000_001)
        self._users = itertools.count(1)
        self.offers: list[Offer] = []
        self.bots = 0
        self.started: list[BotProcess] = []
        self.health_during: list[tuple[int, Any]] = []

    async def __aenter__(self) -> Platforms:
        await asyncio.to_thread(self.pg.start)
        _run_sql(
            self.pg.url("postgres"),
            [
                "ALTER SYSTEM SET synchronous_commit = on",
                "SELECT pg_reload_conf()",
                "CREATE DATABASE langso",
            ],
        )
        self.db_url = self.pg.url("langso")
        await asyncio.to_thread(upgrade, self.db_url)
        self.telegram = await FakeTelegramAPI().start()
        self.zalo = await FakeZaloApi().start()
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30),
            connector=aiohttp.TCPConnector(limit=1000, force_close=False),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.http.close()
            for bot in self.started:
                await bot.kill()
            await self.zalo.stop()
            await self.telegram.stop()
        finally:
            if self.pg.base is not None and self.frozen:
                await asyncio.to_thread(self.thaw)
            await asyncio.to_thread(self.pg.stop)

    # ------------------------------------------------------------------ the bot

    def env(self, **more: str) -> dict[str, str]:
        return {
            "DATABASE_URL": self.db_url,
            "TELEGRAM_BOT_TOKEN": self.telegram.token,
            "TELEGRAM_API_BASE_URL": self.telegram.base_url,
            "TELEGRAM_RATE_PER_SECOND": "1000",
            "TELEGRAM_RATE_PER_CHAT_SECONDS": "0",
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.org" + TELEGRAM_PATH,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "ZALO_APP_ID": APP_ID,
            "ZALO_OA_SECRET_KEY": OA_SECRET_KEY,
            "ZALO_APP_SECRET": self.zalo.app_secret,
            "ZALO_ACCESS_TOKEN": self.zalo.access_token,
            "ZALO_REFRESH_TOKEN": self.zalo.refresh_token,
            "ZALO_API_BASE_URL": self.zalo.url,
            "ZALO_OAUTH_BASE_URL": self.zalo.url,
            "ZALO_RATE_PER_SECOND": "1000",
            "FLOOD_MESSAGES": "1000",
            **self.extra_env,
            **more,
        }

    async def start_bot(
        self, port: int | None = None, args: tuple[str, ...] = (), **env: str
    ) -> BotProcess:
        """Start a bot process (`args`: more `run` options); the last one started is `bot`."""
        self.bots += 1
        self.bot = await BotProcess(
            self.env(**env), self.tmp / f"bot-{self.bots}.log", port=port, args=args
        ).start(timeout=60)
        self.started.append(self.bot)
        return self.bot

    def logs(self) -> str:
        return "\n".join(
            (self.tmp / f"bot-{n}.log").read_text(errors="replace") for n in range(1, self.bots + 1)
        )

    # ------------------------------------------------------------------ the database

    frozen = False

    def stop_database(self) -> None:
        """An immediate stop, as a crash: every connection drops, new ones are refused."""
        pg = self.pg
        pg._run([pg._bin("pg_ctl"), "-D", str(pg.datadir), "-m", "immediate", "-w", "stop"], "stop")

    def start_database(self) -> None:
        self.pg._pg_ctl_start()  # the same port and data directory

    def _pids(self) -> list[int]:
        main = int((self.pg.datadir / "postmaster.pid").read_text().split()[0])
        return [main, *(c.pid for c in psutil.Process(main).children(recursive=True))]

    def freeze(self) -> None:
        """A database that hangs: connections open but nothing answers."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)
        self.frozen = False

    async def query(self, sql: str) -> list[tuple]:
        conn = await asyncpg.connect(self.db_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    # ------------------------------------------------------------------ the platforms' side

    def telegram_offer(self, text: str = "/help") -> Offer:
        chat = next(self._chats)
        update = self.telegram._register(self.telegram.text_update(chat, text))
        offer = Offer("telegram", str(chat), update)
        self.offers.append(offer)
        return offer

    def zalo_offer(self, text: str = "/help") -> Offer:
        uid = f"{next(self._users):019d}"
        offer = Offer("zalo", uid, event("user_send_text", uid, text=text))
        self.offers.append(offer)
        return offer

    async def post(self, offer: Offer, url: str | None = None) -> Answer:
        """One delivery of `offer` to the bot, as the platform makes it."""
        assert self.bot is not None or url is not None
        base = url or self.bot.url  # type: ignore[union-attr]
        if offer.kind == "telegram":
            body = json.dumps(offer.payload).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": SECRET,
            }
            target = base + TELEGRAM_PATH
        else:
            body = json.dumps(offer.payload, ensure_ascii=False, separators=(",", ":")).encode()
            ev = offer.payload
            headers = {
                "Content-Type": "application/json",
                "X-ZEvent-Signature": sign(
                    str(ev["app_id"]), body, str(ev["timestamp"]), OA_SECRET_KEY
                ),
            }
            target = base + ZALO_PATH
        started = time.perf_counter()
        try:
            async with self.http.post(target, data=body, headers=headers) as resp:
                text = await resp.text()
                answer = Answer(
                    resp.status,
                    time.perf_counter() - started,
                    resp.headers.get("Retry-After"),
                    text,
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            answer = Answer(type(exc).__name__, time.perf_counter() - started)
        offer.answers.append(answer)
        return answer

    async def deliver(self, offer: Offer, every: float = 0.3, timeout: float = 120.0) -> None:
        """Post until the bot answers 200, resending what it refused, as the platforms do."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            answer = await self.post(offer)
            if answer.status == 200 or loop.time() > deadline:
                return
            await asyncio.sleep(every)

    # ------------------------------------------------------------------ counting at the fakes

    def replies(self, offer: Offer) -> int:
        if offer.kind == "telegram":
            return len(self.telegram.calls_of("sendMessage", int(offer.user), ok=True))
        return len(self.zalo.texts(offer.user))

    async def all_answered(self, offers: list[Offer], timeout: float) -> float:
        """Wait until every offer has a reply at its fake; seconds waited."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while any(self.replies(o) == 0 for o in offers):
            if loop.time() - started > timeout:
                break
            await asyncio.sleep(0.2)
        return loop.time() - started
