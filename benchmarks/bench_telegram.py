"""Telegram end to end through python-telegram-bot and the fake Bot API: messages/s and reply
latency.

Everything runs on loopback in one process: the fake Bot API (`tests/fakes/telegram_api.py`, a real
HTTP server), the bot's TelegramChannel (PTB 22) wired as `bot.app.serve` wires it (the inbound
worker, the real pipeline writing replies as outbox rows, the sender core sending them after the
commit) on a SQLite file, or on `--database-url` / `--postgres`, in polling mode and in webhook
mode (our aiohttp route, the fake POSTing updates with the secret header like Telegram does).

Each message is an update put in front of the bot (polling: queued for getUpdates; webhook:
POSTed) from a new chat, so replies are matched by chat id and the path measured is a first message
from a new user (user row created, NLU, answer). Latency is from the update being available to its
first reply arriving at the fake's sendMessage. Three runs per mode: one message at a time (latency
without queueing); an open loop offering `--rate` messages/s (25 by default: Telegram lets a bot
send about 30 messages/s, so this is the busiest a real bot gets); a closed loop keeping
`--concurrency` messages in flight (capacity: messages/s; its latency is mostly queueing).

Baselines, measured in the same process: `pipeline.handle` alone (no transport), and one
`bot.send_message` through PTB to the fake (the sending leg), alternating with one queued reply
sent by the sender core (`Sender.flush`: claim the outbox row, the same send, mark it sent). What
the outbox costs per reply (benchmarks/outbox_cost.py): turns with the outbox write against the
same turns with it skipped, and the post-commit flush with the delivery stubbed. The sending rate
limit (30/s overall, 1/s per chat by default) would dominate; it is lifted here to measure the bot
itself.

Run: `python -m benchmarks.bench_telegram [--messages 600] [--concurrency 16]
[--postgres | --database-url URL]`.
Prints a markdown table, then the figures as JSON. Every wait is bounded.

"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from benchmarks import outbox_cost
from benchmarks.stats import free_port, percentile

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MESSAGES = [
    "chào bạn",
    "hỗ trợ xây nhà cho hộ nghèo",
    "ho tro nuoc sinh hoat",
    "quế trà bồng bán ở mô",
    "dự án 4 làm chi",
    "cảm ơn nhiều nha",
    "tôi muốn gặp cán bộ",
    "bảo hiểm y tế cho đồng bào",
    "/help",
    "hoc nghe o dau",
]
REPLY_TIMEOUT = 30.0
SECRET = "bench_secret_0123456789"


def summary(ms: list[float]) -> dict:
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 0.5),
        "p99_ms": percentile(ms, 0.99),
        "max_ms": max(ms),
    }


class Mode:
    """One channel in one mode, with a way to put an update in front of it and to await the
    reply."""

    def __init__(self, name: str, api, services, engine, pipeline, settings) -> None:
        self.name, self.api, self.services, self.engine, self.pipeline = (
            name,
            api,
            services,
            engine,
            pipeline,
        )
        self.settings = settings
        self.waiting: dict[int, asyncio.Future] = {}
        self.to_200: list[float] = []
        self.runner: web.AppRunner | None = None
        api.listeners.append(self._on_call)

    def _on_call(self, call) -> None:
        if call.method == "sendMessage" and call.status == 200:
            fut = self.waiting.pop(call.params.get("chat_id"), None)
            if fut is not None and not fut.done():
                fut.set_result(call.at)

    async def start(self) -> None:
        from bot.app import build_web_app, build_worker
        from bot.channels.telegram import TelegramChannel
        from bot.channels.telegram_cli import delete_webhook, set_webhook
        from bot.outbox.sender import RetryPolicy

        url, port = "", free_port()
        if self.name == "webhook":
            url = f"http://127.0.0.1:{port}/telegram/webhook"
        tg = dataclasses.replace(
            self.settings.telegram,
            token=self.api.token,
            api_base_url=self.api.base_url,
            webhook_url=url,
            webhook_secret=SECRET if url else "",
            rate_per_second=100_000.0,
            rate_per_chat_seconds=0.0,
        )
        self.channel = TelegramChannel(
            tg, content_dir=self.settings.path(self.settings.content_dir), poll_timeout=10
        )
        self.worker = build_worker(
            self.pipeline, [self.channel], RetryPolicy(max_attempts=3, base_delay=0.05)
        )
        if url:
            app = build_web_app(self.services, self.engine, self.worker, [self.channel])
            app.on_cleanup.clear()
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", port).start()
            await set_webhook(tg)
        else:
            await delete_webhook(tg)
        await self.channel.start(self.worker)
        await self.worker.start()

    async def stop(self) -> None:
        self.api.listeners.remove(self._on_call)
        await self.worker.stop()
        await self.channel.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.name == "webhook":
            self.api.webhook = {}

    async def one(self, chat: int, text: str) -> float:
        """Put one message in front of the bot; milliseconds until its first reply reached the
        API."""
        fut = asyncio.get_running_loop().create_future()
        self.waiting[chat] = fut
        update = self.api.text_update(chat, text)
        t0 = time.monotonic()
        if self.name == "webhook":
            status = await self.api.deliver(update)
            self.to_200.append((time.monotonic() - t0) * 1000)
            if status != 200:
                raise RuntimeError(f"webhook answered {status}")
        else:
            self.api.enqueue(update)
        at = await asyncio.wait_for(fut, REPLY_TIMEOUT)
        return (at - t0) * 1000


async def closed_loop(mode: Mode, chats, n: int, concurrency: int) -> tuple[float, list[float]]:
    """n messages, `concurrency` at a time; (wall seconds, latencies in ms)."""
    latencies: list[float] = []
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            latencies.append(await mode.one(next(chats), MESSAGES[i % len(MESSAGES)]))

    t0 = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(concurrency))), REPLY_TIMEOUT * n
    )
    return time.perf_counter() - t0, latencies


async def open_loop(mode: Mode, chats, n: int, rate: float) -> tuple[float, list[float]]:
    """n messages offered at `rate` per second whatever the bot does; (wall seconds, latencies)."""
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    async def at(i: int) -> None:
        await asyncio.sleep(max(0.0, t0 + i / rate - loop.time()))
        latencies.append(await mode.one(next(chats), MESSAGES[i % len(MESSAGES)]))

    await asyncio.wait_for(asyncio.gather(*(at(i) for i in range(n))), n / rate + REPLY_TIMEOUT)
    return loop.time() - t0, latencies


async def run(
    messages: int, concurrency: int, database_url: str | None, rate: float = 25.0
) -> dict:
    from telegram import Bot

    from bot.app import build_pipeline, build_services
    from bot.channels.telegram import TelegramChannel
    from bot.config import load_settings
    from bot.messages import IncomingMessage, Reply
    from bot.outbox.sender import RetryPolicy, Sender
    from bot.storage.db import upgrade_async
    from tests.fakes.telegram_api import FakeTelegramAPI

    tmp = tempfile.TemporaryDirectory()
    db_url = database_url or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    await upgrade_async(db_url)
    settings = load_settings(ROOT / "config.yml", env={})
    settings = dataclasses.replace(
        settings, limits=dataclasses.replace(settings.limits, flood_messages=10**9)
    )
    services, engine = await asyncio.to_thread(build_services, settings, db_url)
    pipeline = build_pipeline(services)
    api = await FakeTelegramAPI(max_poll_wait=10.0).start()
    chats = itertools.count(7_000_000_001)
    results: dict = {
        "database": "sqlite" if database_url is None else database_url.split("://")[0],
        "messages": messages,
        "concurrency": concurrency,
        "offered_rate": rate,
        "modes": {},
    }
    try:
        for name in ("polling", "webhook"):
            mode = Mode(name, api, services, engine, pipeline, settings)
            await mode.start()
            try:
                await closed_loop(mode, chats, 30, 4)  # warm-up: NLU, pools, connections
                mode.to_200.clear()
                seq_s, seq = await closed_loop(mode, chats, max(50, messages // 4), 1)
                seq_200 = list(mode.to_200)
                mode.to_200.clear()
                _, offered = await open_loop(mode, chats, max(50, messages // 2), rate)
                offered_200 = list(mode.to_200)
                mode.to_200.clear()
                wall, loaded = await closed_loop(mode, chats, messages, concurrency)
                results["modes"][name] = {
                    "messages_per_s": len(loaded) / wall,
                    "messages_per_s_sequential": len(seq) / seq_s,
                    "latency_sequential": summary(seq),
                    "latency_offered": summary(offered),
                    "latency_loaded": summary(loaded),
                }
                if name == "webhook":
                    results["modes"][name]["time_to_200_sequential"] = summary(seq_200)
                    results["modes"][name]["time_to_200_offered"] = summary(offered_200)
                    results["modes"][name]["time_to_200_loaded"] = summary(mode.to_200)
            finally:
                await mode.stop()

        # Baselines, same process.
        handle_ms: list[float] = []
        for i in range(max(50, messages // 4)):
            msg = IncomingMessage(
                channel="benchtg",
                sender_id=f"b{i}",
                message_id=f"b{i}",
                text=MESSAGES[i % len(MESSAGES)],
            )
            t0 = time.perf_counter()
            await pipeline.handle(msg)
            handle_ms.append((time.perf_counter() - t0) * 1000)
        send_ms: list[float] = []
        flush_ms: list[float] = []
        # The sending leg through the sender core: one queued reply, then `Sender.flush` (claim,
        # sendMessage through PTB, mark sent), alternating with a bare PTB send to the same fake.
        tg = dataclasses.replace(
            settings.telegram,
            token=api.token,
            api_base_url=api.base_url,
            webhook_url="",
            webhook_secret="",
            rate_per_second=100_000.0,
            rate_per_chat_seconds=0.0,
        )
        send_channel = TelegramChannel(tg, content_dir=settings.path(settings.content_dir))
        sender = Sender(services.sessionmaker, RetryPolicy(max_attempts=3, base_delay=0.05))
        sender.add_channel(send_channel)
        try:
            async with Bot(api.token, base_url=api.base_url) as bot:
                await sender.send_now("telegram", "8999999999", [Reply(text="xin chào")])  # warm-up
                for i in range(max(50, messages // 4)):
                    t0 = time.perf_counter()
                    await bot.send_message(9_000_000_000 + i, "xin chào")
                    send_ms.append((time.perf_counter() - t0) * 1000)
                    chat = str(9_100_000_000 + i)
                    await sender.enqueue("telegram", chat, [Reply(text="xin chào")])
                    t0 = time.perf_counter()
                    if await sender.flush("telegram", chat) != 1:
                        raise RuntimeError("the sender core did not send the queued reply")
                    flush_ms.append((time.perf_counter() - t0) * 1000)
        finally:
            await send_channel.stop()
        results["baseline_pipeline_handle"] = summary(handle_ms)
        results["baseline_pipeline_handle_per_s"] = 1000 / (sum(handle_ms) / len(handle_ms))
        results["baseline_ptb_send_message"] = summary(send_ms)
        results["flush_one_reply_through_ptb"] = summary(flush_ms)
        results["outbox"] = await outbox_cost.measure(
            services, pipeline, MESSAGES, n=max(50, messages // 4), repeats=3
        )
    finally:
        await api.stop()
        await engine.dispose()
        tmp.cleanup()
    return results


def markdown(r: dict) -> str:
    h, s, c, rate = (
        r["baseline_pipeline_handle"],
        r["baseline_ptb_send_message"],
        r["concurrency"],
        r["offered_rate"],
    )
    f, o = r["flush_one_reply_through_ptb"], r["outbox"]

    def pp(x: dict) -> str:
        return f"{x['p50_ms']:.1f} / {x['p99_ms']:.1f} ms"

    rows = [
        "Telegram through python-telegram-bot 22 and the fake Bot API, "
        "every message from a new chat, "
        f"{r['database']}, loopback, one process (the fake API shares the bot's CPU), "
        "sending rate limit lifted.",
        "",
        f"| mode | messages/s, {c} in flight | reply p50 / p99: one at a time "
        f"| at {rate:.0f} messages/s offered "
        f"| with {c} in flight |",
        "|---|---|---|---|---|",
    ]
    for name, m in r["modes"].items():
        rows.append(
            f"| {name} | {m['messages_per_s']:.0f} | {pp(m['latency_sequential'])} | "
            f"{pp(m['latency_offered'])} | {pp(m['latency_loaded'])} |"
        )
    w = r["modes"].get("webhook", {})
    if w:
        rows.append(
            f"| webhook: time to 200 | | {pp(w['time_to_200_sequential'])} | "
            f"{pp(w['time_to_200_offered'])} "
            f"| {pp(w['time_to_200_loaded'])} |"
        )
    rows += [
        "",
        "| same-process baseline | p50 / p99 | rate |",
        "|---|---|---|",
        f"| pipeline.handle alone | {pp(h)} | "
        f"{r['baseline_pipeline_handle_per_s']:.0f} messages/s one at a time |",
        f"| one sendMessage through PTB to the fake | {pp(s)} | |",
        f"| one queued reply sent by the sender core (claim, sendMessage through PTB, mark sent) "
        f"| {pp(f)} ({f['p50_ms'] / s['p50_ms']:.1f}x the bare send at p50) | |",
        "",
        f"What the outbox costs per reply ({o['turns']} turns of each kind, interleaved, "
        f"median over {o['repeats']} repeats):",
        "",
        "| measure | p50 | p99 |",
        "|---|---|---|",
        *outbox_cost.markdown_rows(o),
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--rate",
        type=float,
        default=25.0,
        help="messages/s offered in the open-loop run (Telegram lets a bot send ~30/s)",
    )
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="start a throw-away PostgreSQL server (tests/postgres.py) and use it",
    )
    args = parser.parse_args(argv)
    if args.postgres:
        from tests.postgres import PostgresServer, drop_database, fresh_database

        server = PostgresServer().start()
        try:
            url = fresh_database(server.url())
            try:
                result = asyncio.run(run(args.messages, args.concurrency, url, args.rate))
            finally:
                drop_database(url)
        finally:
            server.stop()
    else:
        result = asyncio.run(run(args.messages, args.concurrency, args.database_url, args.rate))
    result["markdown"] = markdown(result)
    return result


if __name__ == "__main__":
    r = main()
    print(r["markdown"])
    print(json.dumps({k: v for k, v in r.items() if k != "markdown"}, indent=1))
