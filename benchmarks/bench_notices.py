"""Notices through the outbox: a broadcast's rate against a limit, dispatch throughput, memory,
and the time to compose a 100,000-recipient notice.

1. Rate-limited: N recipients (10,000 by default; `--quick`: 2,000) queued at once and sent by
   one dispatcher (the sender core and a real TelegramChannel on python-telegram-bot, SQLite)
   to the fake Telegram API enforcing 30 messages/s (429 beyond it); the achieved rate from
   the first accepted send to the last, its share of the limit, and the 429 answers.
2. No limit: 5,000 recipients (`--quick`: 2,000) sent by real dispatcher processes
   (`python -m bot run --role dispatcher`, TELEGRAM_RATE_PER_SECOND=0) on SQLite, on
   PostgreSQL with one dispatcher and with two, against the fake in this process; next to what
   the fake absorbs alone (64 concurrent sendMessage calls from this process, the same way
   python-telegram-bot calls it); each dispatcher's peak RSS.
3. Compose: `bot.notices.compose.compose` of a notice for 100,000 subscribers (users and
   subscriptions bulk-inserted first), on SQLite and PostgreSQL: the seconds to store the notice
   and its 100,000 outbox rows (`outbox.add_many`), committed.

Prints the markdown section and a JSON object (benchmarks/run.py); `--write` also puts the
section into docs/benchmarks.md between the notices markers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stats import write_section  # noqa: E402
from bot.config import TelegramSettings, load_settings  # noqa: E402
from bot.messages import Reply  # noqa: E402
from bot.outbox.dispatcher import Dispatcher  # noqa: E402
from bot.outbox.sender import RetryPolicy, Sender  # noqa: E402
from bot.storage.db import create_engine, create_sessionmaker, upgrade  # noqa: E402
from bot.storage.repositories import outbox  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.processes import BotProcess, free_port  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- notices:begin -->", "<!-- notices:end -->"
FIRST_CHAT = 7_400_000_001
TEXT = "Thông báo: lớp tập huấn trồng keo ngày 12/12 tại nhà văn hoá thôn"


async def seed(url: str, count: int) -> None:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            reply = Reply(TEXT)
            await outbox.add_many(
                session,
                [
                    {"channel": "telegram", "recipient": str(FIRST_CHAT + i), "reply": reply}
                    for i in range(count)
                ],
            )
            await session.commit()
    finally:
        await engine.dispose()


def accepted_times(api: FakeTelegramAPI) -> list[float]:
    return sorted(c.at for c in api.calls_of("sendMessage", ok=True))


def rate_of(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


async def wait_sent(api: FakeTelegramAPI, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len({c.chat_id for c in api.calls_of("sendMessage", ok=True)}) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(api.calls_of('sendMessage', ok=True))} of {count}")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------- 1. rate-limited


async def rate_limited(count: int, limit: float, tmp: Path) -> dict[str, Any]:
    from bot.channels.telegram import TelegramChannel

    url = f"sqlite+aiosqlite:///{tmp / 'rate.db'}"
    await asyncio.to_thread(upgrade, url)
    await seed(url, count)
    async with FakeTelegramAPI() as api:
        api.limit_rate(limit, 1.0)
        settings = TelegramSettings(
            token=api.token, api_base_url=api.base_url, rate_per_second=limit
        )
        channel = TelegramChannel(settings, content_dir=ROOT / "content")
        engine = create_engine(url)
        sender = Sender(create_sessionmaker(engine), RetryPolicy())
        sender.add_channel(channel)
        sender.use_shared_budgets(0.97)
        dispatcher = Dispatcher(sender, concurrency=64)
        started = time.monotonic()
        dispatcher.start()
        try:
            await wait_sent(api, count, timeout=count / limit * 2 + 60)
        finally:
            await dispatcher.stop()
            await channel.stop()
            await engine.dispose()
        took = time.monotonic() - started
        times = accepted_times(api)
        return {
            "recipients": count,
            "limit_per_second": limit,
            "achieved_per_second": round(rate_of(times), 2),
            "share_of_limit": round(rate_of(times) / limit, 3),
            "answers_429": api.too_many,
            "seconds": round(took, 1),
            "sent_twice": len(times)
            - len({c.chat_id for c in api.calls_of("sendMessage", ok=True)}),
        }


# ---------------------------------------------------------------------------- 2. throughput


async def fake_alone(count: int, concurrency: int = 64) -> float:
    """What the fake absorbs alone: sendMessage calls as fast as `concurrency` clients go."""
    async with FakeTelegramAPI() as api:
        url = f"{api.base_url}{api.token}/sendMessage"
        chats = iter(range(FIRST_CHAT, FIRST_CHAT + count))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

            async def client() -> None:
                for chat in chats:
                    async with http.post(url, json={"chat_id": chat, "text": TEXT}) as resp:
                        await resp.read()

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(concurrency)))
            return count / (time.perf_counter() - started)


async def dispatchers(url: str, count: int, processes: int, tmp: Path, tag: str) -> dict:
    await seed(url, count)
    async with FakeTelegramAPI() as api:
        env = {
            "DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "TELEGRAM_RATE_PER_SECOND": "0",
            "TELEGRAM_RATE_PER_CHAT_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }
        bots = []
        peak: dict[int, int] = {}
        try:
            for n in range(processes):
                port = free_port()
                bot = BotProcess(
                    {**env, "DISPATCHER_PORT": str(port)},
                    tmp / f"{tag}-{n}.log",
                    port=port,
                    args=("--role", "dispatcher"),
                )
                bots.append(await bot.start(timeout=60))
            procs = [psutil.Process(b.proc.pid) for b in bots]  # type: ignore[union-attr]
            deadline = time.monotonic() + 300
            while len({c.chat_id for c in api.calls_of("sendMessage", ok=True)}) < count:
                for p in procs:
                    peak[p.pid] = max(peak.get(p.pid, 0), p.memory_info().rss)
                if time.monotonic() > deadline:
                    raise TimeoutError(tag)
                await asyncio.sleep(0.2)
        finally:
            for bot in bots:
                await bot.terminate()
        times = accepted_times(api)
        return {
            "setup": tag,
            "dispatchers": processes,
            "messages": count,
            "per_second": round(rate_of(times), 1),
            "sent_twice": len(times) - count,
            "peak_rss_mb": round(max(peak.values()) / 2**20, 1),
        }


# ---------------------------------------------------------------------------- 3. compose


async def compose_time(url: str, count: int) -> float:
    from sqlalchemy import insert, select

    from bot.notices.compose import compose
    from bot.notices.model import Draft
    from bot.storage.models import Subscription, User

    settings = load_settings(ROOT / "config.yml", env={})
    engine = create_engine(url)
    try:
        sm = create_sessionmaker(engine)
        async with sm() as session:
            now = datetime.now(UTC)
            for start in range(0, count, 5000):
                await session.execute(
                    insert(User),
                    [
                        {
                            "channel": "telegram",
                            "external_id": str(FIRST_CHAT + i),
                            "locale": "vi",
                            "role": "villager",
                            "state": {},
                            "reachable": True,
                            "created_at": now,
                            "last_seen_at": now,
                        }
                        for i in range(start, min(count, start + 5000))
                    ],
                )
            ids = (await session.execute(select(User.id))).scalars().all()
            for start in range(0, len(ids), 5000):
                await session.execute(
                    insert(Subscription),
                    [
                        {"user_id": uid, "channel": "telegram", "active": True}
                        for uid in ids[start : start + 5000]
                    ],
                )
            await session.commit()
        async with sm() as session:
            started = time.perf_counter()
            composed = await compose(
                session,
                Draft(title={"vi": "Tập huấn"}, body={"vi": TEXT}),
                settings=settings,
            )
            await session.commit()
            took = time.perf_counter() - started
        async with sm() as session:
            queued = await outbox.unfinished_count(session)
        assert queued >= count, (queued, composed)
        return took
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------------- main


def table(result: dict[str, Any]) -> str:
    r = result["rate_limited"]
    lines = [
        BEGIN,
        "",
        f"Measured {result['date']}"
        + (f" (the 30/s run: {result['rate_date']})" if result.get("rate_date") else "")
        + f"; {result['machine_note']}",
        "",
        f"**Against a 30/s limit** (the fake Bot API answers 429 beyond it): {r['recipients']:,} "
        f"recipients in {r['seconds']} s, **{r['achieved_per_second']} messages/s = "
        f"{r['share_of_limit']:.1%} of the limit**, {r['answers_429']} answers 429, "
        f"{r['sent_twice']} sent twice (one dispatcher, SQLite; it sends at 97% of the limit, "
        "`outbox.rate_headroom`).",
        "",
        "**No limit** (TELEGRAM_RATE_PER_SECOND=0), dispatcher processes against the fake:",
        "",
        "| setup | dispatchers | messages | messages/s | sent twice | peak RSS per dispatcher |",
        "|---|---|---|---|---|---|",
    ]
    for t in result["throughput"]:
        lines.append(
            f"| {t['setup']} | {t['dispatchers']} | {t['messages']:,} | {t['per_second']} "
            f"| {t['sent_twice']} | {t['peak_rss_mb']} MB |"
        )
    lines += [
        f"| the fake alone (64 concurrent clients, this process) | - | "
        f"{result['fake_alone_messages']:,} | {result['fake_alone_per_second']} | - | - |",
        "",
        f"**Composing a {result['compose_recipients']:,}-recipient notice** "
        "(`bot.notices.compose.compose`, the notice and one outbox row per recipient in one "
        "transaction, committed): "
        + ", ".join(f"{db} {secs:.1f} s" for db, secs in result["compose_seconds"].items())
        + ".",
        "",
        END,
    ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    write_section(DOC, BEGIN, END, section, "Notices: broadcasts through the outbox")


SAVED = ROOT / "benchmarks" / "results" / "notices.json"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from tests.postgres import PostgresServer, _run_sql

    quick = args.quick
    n_rate = args.rate_recipients or (2000 if quick else 10_000)
    if args.only_rate:  # the other figures as the last full run left them
        result = json.loads(SAVED.read_text(encoding="utf-8"))
        with tempfile.TemporaryDirectory() as d:
            result["rate_limited"] = await rate_limited(n_rate, 30.0, Path(d))
        result["rate_date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return result
    n_fast = 2000 if quick else 5000
    n_compose = 20_000 if quick else 100_000
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine_note": f"{os.cpu_count()} cores shared with other work (a noisy machine)"
        + ("; quick run" if quick else ""),
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        result["fake_alone_messages"] = n_fast
        result["fake_alone_per_second"] = round(await fake_alone(n_fast), 1)
        throughput = []
        sqlite_url = f"sqlite+aiosqlite:///{tmp / 'fast.db'}"
        await asyncio.to_thread(upgrade, sqlite_url)
        throughput.append(await dispatchers(sqlite_url, n_fast, 1, tmp, "SQLite"))
        pg = PostgresServer(tmp_parent=None)
        await asyncio.to_thread(pg.start)
        try:
            for n, name in ((1, "pg1"), (2, "pg2")):
                await asyncio.to_thread(_run_sql, pg.url("postgres"), [f"CREATE DATABASE {name}"])
                await asyncio.to_thread(upgrade, pg.url(name))
                throughput.append(
                    await dispatchers(pg.url(name), n_fast, n, tmp, f"PostgreSQL, {n}")
                )
            await asyncio.to_thread(_run_sql, pg.url("postgres"), ["CREATE DATABASE compose"])
            await asyncio.to_thread(upgrade, pg.url("compose"))
            compose_sqlite = f"sqlite+aiosqlite:///{tmp / 'compose.db'}"
            await asyncio.to_thread(upgrade, compose_sqlite)
            result["compose_recipients"] = n_compose
            result["compose_seconds"] = {
                "SQLite": round(await compose_time(compose_sqlite, n_compose), 2),
                "PostgreSQL": round(await compose_time(pg.url("compose"), n_compose), 2),
            }
        finally:
            await asyncio.to_thread(pg.stop)
        result["throughput"] = throughput
        if args.skip_rate:  # the 30/s run as the last run left it
            saved = json.loads(SAVED.read_text(encoding="utf-8"))
            result["rate_limited"] = saved["rate_limited"]
            result["rate_date"] = saved.get("rate_date", saved["date"])
        else:
            result["rate_limited"] = await rate_limited(n_rate, 30.0, tmp)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer recipients (a minute or two)")
    parser.add_argument("--rate-recipients", type=int, help="recipients of the 30/s run")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument(
        "--only-rate", action="store_true", help="run only the 30/s broadcast (the rest: saved)"
    )
    parser.add_argument(
        "--skip-rate", action="store_true", help="all but the 30/s broadcast (that one: saved)"
    )
    logging.basicConfig(level=logging.WARNING)
    args = parser.parse_args()
    data = asyncio.run(main(args))
    section = table(data)
    print(section)
    print(json.dumps(data))
    SAVED.parent.mkdir(parents=True, exist_ok=True)
    SAVED.write_text(json.dumps(data, indent=1), encoding="utf-8")
    if args.write:
        write_doc(section)
