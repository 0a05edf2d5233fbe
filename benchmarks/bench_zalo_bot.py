"""The Zalo Bot Platform end to end through the fake Bot API, next to Telegram in the same run.

Everything on loopback in one process, on one SQLite file: the fake Bot API
(`tests/fakes/zalo_bot_api.py`, a real HTTP server) and the bot's ZaloBotChannel wired as
`bot.app.serve` wires it (inbound worker, real pipeline writing replies as outbox rows, sender
core), in polling mode and webhook mode; then the same with Telegram (benchmarks/bench_telegram's
`Mode`, PTB 22 and the fake Telegram API), so the two channels are measured back to back on the
same machine and database. Each message comes from a new chat (a first message: user row, NLU,
answer); latency is from the update being available to its first reply reaching the fake's
sendMessage. Two runs per channel and mode: one message at a time (latency without queueing), and
`--concurrency` in flight (messages/s; its latency is mostly queueing). The sending rate limits
are lifted to measure the bot itself.

Run: `python -m benchmarks.bench_zalo_bot [--messages 300] [--concurrency 16]`.
Prints a markdown table, then the figures as JSON.
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

from benchmarks.bench_telegram import REPLY_TIMEOUT, closed_loop, summary
from benchmarks.bench_telegram import Mode as TelegramMode
from benchmarks.stats import free_port

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SECRET = "bench_secret_0123456789"


class ZaloBotMode:
    """The Zalo bot in one mode: `one(chat, text)` puts an update in front of it and awaits the
    reply (the same interface as bench_telegram.Mode, for its loops)."""

    def __init__(self, name: str, api, pipeline, settings) -> None:
        self.name, self.api, self.pipeline, self.settings = name, api, pipeline, settings
        self.waiting: dict[str, asyncio.Future] = {}
        self.to_200: list[float] = []
        self.runner: web.AppRunner | None = None
        api.listeners.append(self._on_call)

    def _on_call(self, call) -> None:
        if call.method == "sendMessage" and call.ok:
            fut = self.waiting.pop(call.params.get("chat_id"), None)
            if fut is not None and not fut.done():
                fut.set_result(time.monotonic())

    async def start(self) -> None:
        from bot.app import build_worker
        from bot.channels.zalo_bot import ZaloBotChannel
        from bot.channels.zalo_bot_cli import set_webhook
        from bot.config import ZaloBotSettings
        from bot.outbox.sender import RetryPolicy

        port = free_port()
        url = f"http://127.0.0.1:{port}/zalo-bot/webhook" if self.name == "webhook" else ""
        s = ZaloBotSettings(
            token=self.api.token,
            api_base_url=self.api.url,
            webhook_url=url,
            webhook_secret=SECRET if url else "",
            rate_per_second=100_000.0,
            rate_per_chat_seconds=0.0,
        )
        content = self.settings.path(self.settings.content_dir)
        self.channel = ZaloBotChannel(s, content_dir=content, poll_timeout=10)
        self.worker = build_worker(
            self.pipeline, [self.channel], RetryPolicy(max_attempts=3, base_delay=0.05)
        )
        if url:
            app = web.Application()
            self.channel.register_routes(app)
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", port).start()
            await set_webhook(s)
        await self.channel.start(self.worker)
        await self.worker.start()

    async def stop(self) -> None:
        self.api.listeners.remove(self._on_call)
        await self.worker.stop()
        await self.channel.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        self.api.webhook = {}

    async def one(self, chat: int, text: str) -> float:
        chat_id = f"{chat:x}"
        fut = asyncio.get_running_loop().create_future()
        self.waiting[chat_id] = fut
        update = self.api.text_update(chat_id, text)
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


async def measure(mode, chats, messages: int, concurrency: int) -> dict:
    await mode.start()
    try:
        await closed_loop(mode, chats, 30, 4)  # warm-up: NLU, pools, connections
        _, seq = await closed_loop(mode, chats, max(40, messages // 4), 1)
        wall, loaded = await closed_loop(mode, chats, messages, concurrency)
    finally:
        await mode.stop()
    return {
        "one_at_a_time": summary(seq),
        "loaded": {**summary(loaded), "msgs_per_s": round(messages / wall, 1)},
    }


async def run(messages: int, concurrency: int) -> dict:
    from bot.app import build_pipeline, build_services
    from bot.config import load_settings
    from bot.storage.db import upgrade_async
    from tests.fakes.telegram_api import FakeTelegramAPI
    from tests.fakes.zalo_bot_api import FakeZaloBotAPI

    tmp = tempfile.TemporaryDirectory()
    db_url = f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    await upgrade_async(db_url)
    settings = load_settings(ROOT / "config.yml", env={})
    settings = dataclasses.replace(
        settings, limits=dataclasses.replace(settings.limits, flood_messages=10**9)
    )
    services, engine = await asyncio.to_thread(build_services, settings, db_url)
    pipeline = build_pipeline(services)
    chats = itertools.count(7_100_000_001)
    results: dict = {"messages": messages, "concurrency": concurrency, "channels": {}}
    zb = await FakeZaloBotAPI(max_poll_wait=10.0).start()
    tg = await FakeTelegramAPI(max_poll_wait=10.0).start()
    try:
        for name in ("polling", "webhook"):
            mode = ZaloBotMode(name, zb, pipeline, settings)
            results["channels"][f"zalo_bot {name}"] = await measure(
                mode, chats, messages, concurrency
            )
            tmode = TelegramMode(name, tg, services, engine, pipeline, settings)
            results["channels"][f"telegram {name}"] = await measure(
                tmode, chats, messages, concurrency
            )
    finally:
        await zb.stop()
        await tg.stop()
        await engine.dispose()
        tmp.cleanup()
    return results


def markdown(r: dict) -> str:
    rows = [
        f"{r['messages']} messages from new chats, {r['concurrency']} in flight; SQLite; "
        "sending rate limits lifted. Latency: update available -> first reply at the fake API.",
        "",
        "| channel, mode | one at a time p50 / p99 ms | loaded p50 / p99 ms | messages/s |",
        "|---|---|---|---|",
    ]
    for name, m in r["channels"].items():
        one, loaded = m["one_at_a_time"], m["loaded"]
        rows.append(
            f"| {name} | {one['p50_ms']:.1f} / {one['p99_ms']:.1f} | "
            f"{loaded['p50_ms']:.1f} / {loaded['p99_ms']:.1f} | {loaded['msgs_per_s']} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.messages, args.concurrency))
    result["markdown"] = markdown(result)
    return result


if __name__ == "__main__":
    r = main()
    print(r["markdown"])
    print(json.dumps({k: v for k, v in r.items() if k != "markdown"}, indent=1))
