"""Zalo OA webhooks through the fake OA API: events per second, time to 200, time to reply.

Everything runs on loopback in one process: the fake Zalo API (`tests/fakes/zalo_api.py`, a real
HTTP server), the bot's webhook (ZaloChannel wired as `bot.app.serve` wires it: the inbound
worker, the real pipeline writing replies as outbox rows, the sender core sending them after the
commit; on a SQLite file, or on `--database-url`) and a client posting signed events with bounded
concurrency. Each event comes from a distinct user, so a reply is matched to its event by user id;
a first message from a new user is the most expensive path (a user row is created, the welcome is
sent).

Measured per event: time to the webhook's 200 (client side) and time to the first reply reaching
the fake API. Baselines measured in the same process, on the same loopback and client:
- a bare aiohttp route that reads the body and answers 200 (the floor for time to 200);
- one POST straight to the fake's /v3.0/oa/message/cs (the floor for the sending leg);
- `pipeline.handle` called directly, without the webhook or sending.

The sending rate limit (`zalo.rate_per_second`, 10/s by default) would dominate time to reply; it
is lifted here to measure the bot itself.

Run: `python -m benchmarks.bench_zalo [--events 500] [--concurrency 16]
[--databases sqlite,postgresql]` (or `--database-url URL`). Prints a markdown table per database,
then the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from benchmarks.stats import percentile

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


def summary(ms: list[float]) -> dict:
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 0.5),
        "p99_ms": percentile(ms, 0.99),
        "max_ms": max(ms),
    }


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def bounded(n: int, concurrency: int, job) -> float:
    """Run job(i) for i in range(n), at most `concurrency` at once; wall seconds."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await job(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0


async def run(events: int, concurrency: int, database_url: str | None) -> dict:
    from bot.app import build_pipeline, build_services, build_worker
    from bot.channels.zalo import WEBHOOK_PATH, ZaloChannel
    from bot.config import load_settings
    from bot.messages import IncomingMessage
    from bot.outbox.sender import RetryPolicy
    from bot.storage.db import upgrade_async
    from tests.channels.conftest import settle_worker as settle
    from tests.channels.conftest_zalo import zalo_settings
    from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, SEND, FakeZaloApi, event, sign

    tmp = tempfile.TemporaryDirectory()
    db_url = database_url or f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    await upgrade_async(db_url)
    settings = load_settings(ROOT / "config.yml", env={})
    settings = type(settings)(
        **{**settings.__dict__, "limits": type(settings.limits)(flood_messages=10**9)}
    )
    services, engine = await asyncio.to_thread(build_services, settings, db_url)
    pipeline = build_pipeline(services)
    fake = await FakeZaloApi().start()
    zs = zalo_settings(fake, rate_per_second=100_000.0)
    channel = ZaloChannel(
        zs, services.sessionmaker, content_dir=settings.path(settings.content_dir)
    )
    worker = build_worker(pipeline, [channel], RetryPolicy(max_attempts=3, base_delay=0.05))
    app = web.Application()
    channel.register_routes(app)
    bot_runner, bot_port = await serve(app)
    await channel.start(worker)
    await worker.start()

    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    base_app = web.Application()
    base_app.router.add_post("/bare", bare)
    base_runner, base_port = await serve(base_app)

    first_reply: dict[str, float] = {}
    posted: dict[str, float] = {}
    to_200: list[float] = []
    statuses: dict[int, int] = {}
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    try:
        # Warm up (NLU, connection pools), not measured.
        for i in range(20):
            ev = event("user_send_text", f"warm{i}", text=MESSAGES[i % len(MESSAGES)])
            raw = json.dumps(ev, ensure_ascii=False).encode()
            async with http.post(
                f"http://127.0.0.1:{bot_port}{WEBHOOK_PATH}",
                data=raw,
                headers={"X-ZEvent-Signature": sign(APP_ID, raw, ev["timestamp"], OA_SECRET_KEY)},
            ) as r:
                await r.read()
        await settle(worker, 120)
        fake.sent.clear()

        bodies = []
        for i in range(events):
            ev = event("user_send_text", f"bench{i}", text=MESSAGES[i % len(MESSAGES)])
            raw = json.dumps(ev, ensure_ascii=False).encode()
            bodies.append((f"bench{i}", raw, sign(APP_ID, raw, ev["timestamp"], OA_SECRET_KEY)))

        async def post(i: int) -> None:
            user, raw, signature = bodies[i]
            t0 = time.perf_counter()
            posted[user] = t0
            async with http.post(
                f"http://127.0.0.1:{bot_port}{WEBHOOK_PATH}",
                data=raw,
                headers={"X-ZEvent-Signature": signature},
            ) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            to_200.append((time.perf_counter() - t0) * 1000)

        # fake.sent[].at is time.monotonic(); perf_counter is also monotonic but may differ in
        # origin, so reply times are taken from a monotonic start too.
        mono0, perf0 = time.monotonic(), time.perf_counter()
        ingest_s = await bounded(events, concurrency, post)
        await settle(worker, 600)
        done_s = time.perf_counter() - perf0
        for s in fake.sent:
            if s.user_id in posted and s.user_id not in first_reply:
                first_reply[s.user_id] = s.at
        to_reply = [
            ((first_reply[u] - mono0) - (posted[u] - perf0)) * 1000
            for u in posted
            if u in first_reply
        ]

        # Baselines, same process, same client.
        base_200: list[float] = []

        async def post_bare(i: int) -> None:
            _user, raw, _sig = bodies[i]
            t0 = time.perf_counter()
            async with http.post(f"http://127.0.0.1:{base_port}/bare", data=raw) as r:
                await r.read()
            base_200.append((time.perf_counter() - t0) * 1000)

        base_ingest_s = await bounded(events, concurrency, post_bare)
        base_send: list[float] = []

        async def send_direct(i: int) -> None:
            t0 = time.perf_counter()
            async with http.post(
                fake.url + SEND,
                json={"recipient": {"user_id": f"b{i}"}, "message": {"text": "xin chào"}},
                headers={"access_token": fake.access_token},
            ) as r:
                await r.read()
            base_send.append((time.perf_counter() - t0) * 1000)

        await bounded(events, concurrency, send_direct)
        handle_ms: list[float] = []
        for i in range(min(events, 300)):
            msg = IncomingMessage(
                channel="benchzalo",
                sender_id=f"d{i}",
                message_id=f"d{i}",
                text=MESSAGES[i % len(MESSAGES)],
            )
            t0 = time.perf_counter()
            await pipeline.handle(msg)
            handle_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        await http.close()
        await worker.stop()
        await channel.stop()
        await bot_runner.cleanup()
        await base_runner.cleanup()
        await fake.stop()
        await engine.dispose()
        tmp.cleanup()

    return {
        "database": "sqlite" if database_url is None else database_url.split("://")[0],
        "events": events,
        "concurrency": concurrency,
        "statuses": statuses,
        "replied": len(to_reply),
        "events_per_s_to_200": events / ingest_s,
        "events_per_s_to_reply": len(to_reply) / done_s,
        "baseline_events_per_s_bare_200": events / base_ingest_s,
        "time_to_200": summary(to_200),
        "time_to_reply": summary(to_reply),
        "baseline_bare_200": summary(base_200),
        "baseline_send_to_fake": summary(base_send),
        "baseline_pipeline_handle": summary(handle_ms),
    }


def markdown(r: dict) -> str:
    t2, tr = r["time_to_200"], r["time_to_reply"]
    b2, bs, bp = r["baseline_bare_200"], r["baseline_send_to_fake"], r["baseline_pipeline_handle"]
    return "\n".join(
        [
            f"Zalo webhooks, {r['events']} events from distinct users, "
            f"{r['concurrency']} concurrent, "
            f"{r['database']}, loopback, sending rate limit lifted",
            "",
            "| measure | value | same-process baseline |",
            "|---|---|---|",
            f"| events/s answered 200 | {r['events_per_s_to_200']:.0f} | "
            f"{r['baseline_events_per_s_bare_200']:.0f} (bare aiohttp route) |",
            f"| events/s replied (end to end) | {r['events_per_s_to_reply']:.0f} | |",
            f"| time to 200, p50 / p99 | {t2['p50_ms']:.1f} / {t2['p99_ms']:.1f} ms | "
            f"{b2['p50_ms']:.1f} / {b2['p99_ms']:.1f} ms (bare route) |",
            f"| time to first reply, p50 / p99 | {tr['p50_ms']:.1f} / {tr['p99_ms']:.1f} ms | "
            f"pipeline.handle {bp['p50_ms']:.1f} / {bp['p99_ms']:.1f} ms "
            f"+ one send {bs['p50_ms']:.1f} / {bs['p99_ms']:.1f} ms |",
            f"| replies received | {r['replied']} of {r['events']} | |",
        ]
    )


def run_postgres(events: int, concurrency: int) -> dict:
    """The same run on a throw-away PostgreSQL server (tests/postgres.py)."""
    from tests.postgres import PostgresServer, drop_database, fresh_database

    server = PostgresServer().start()
    try:
        url = fresh_database(server.url())
        try:
            return asyncio.run(run(events, concurrency, url))
        finally:
            drop_database(url)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="measure on this database only")
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: sqlite (a temporary file), postgresql (a throw-away server)",
    )
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    if args.database_url:
        results[args.database_url.split("://")[0]] = asyncio.run(
            run(args.events, args.concurrency, args.database_url)
        )
    else:
        for name in args.databases.split(","):
            if name == "sqlite":
                results["sqlite"] = asyncio.run(run(args.events, args.concurrency, None))
            elif name == "postgresql":
                results["postgresql"] = run_postgres(args.events, args.concurrency)
            else:
                parser.error(f"--databases: unknown database {name!r}")
    out: dict = dict(results)
    out["markdown"] = "\n\n".join(markdown(r) for r in results.values())
    return out


if __name__ == "__main__":
    r = main()
    print(r["markdown"])
    print(json.dumps({k: v for k, v in r.items() if k != "markdown"}, indent=1))
