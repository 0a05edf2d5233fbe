"""The open-data JSON (`/open-data/indicators.json`) with 100,000 officers' reports, SQLite and
PostgreSQL.

In one process: a migrated SQLite file and a throw-away PostgreSQL server (tests/postgres.py),
each filled with `--reports` reports (18 indicators, every commune and one village, 24 monthly
periods, 2% withdrawn and 1% sent back), the open-data sub-app served on a loopback port and
requested over HTTP with aiohttp's client, one request at a time:

- `ping`: a trivial route on the same server (the baseline: the ratio column is against it);
- `cold`: the aggregate rebuilt for every request (the fingerprint query, the GROUP BY over all
  reports, the suppression, the JSON of every cell): what the first request after a new report
  costs;
- `checked`: the data unchanged, `recheck_seconds` 0 (the fingerprint query, then the body kept
  in memory);
- `cached`: the data unchanged, within `recheck_seconds` (the body kept in memory, no query);
- `304`: a client revalidating with If-None-Match (what a portal polling it costs);
- `page cold` / `page cached`: the HTML page with its 19 SVG charts.

The client accepts gzip (aiohttp's default), so the cached figures include sending the
compressed body, made once per data version.

Run: `python -m benchmarks.bench_open_data [--reports N] [--databases sqlite,postgresql]
[--write]` (`--write` puts the table in docs/benchmarks.md between the open-data markers).
Prints a markdown table, then a JSON object (benchmarks/run.py keeps both).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stats import percentile, write_section  # noqa: E402

BEGIN, END = "<!-- open-data:begin -->", "<!-- open-data:end -->"
DOC = ROOT / "docs" / "benchmarks.md"


async def fill(sessionmaker, n: int, tree, indicators) -> None:
    from sqlalchemy import insert

    from bot.storage.models import Report

    rnd = random.Random(1719)
    communes = [a.code for a in tree.areas if a.level == "commune"]
    villages = [a.code for a in tree.areas if a.level == "village"]
    places = communes + villages
    periods = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        ind = indicators[i % len(indicators)]
        r = rnd.random()
        status, review = "submitted", "pending"
        if r < 0.02:
            status = "withdrawn"
        elif r < 0.03:
            review = "sent_back"
        elif r < 0.5:
            review = "checked"
        at = start + timedelta(minutes=7 * i)
        row = {
            "project": ind.project,
            "indicator": ind.code,
            "area_code": rnd.choice(places),
            "period": rnd.choice(periods),
            "value": float(rnd.randint(0, 40)),
            "unit": ind.unit,
            "note": None,
            "officer_role": "officer",
            "channel": "telegram",
            "status": status,
            "version": 1,
            "created_at": at,
            "updated_at": at,
        }
        if hasattr(Report, "review"):
            row["review"] = review
        rows.append(row)
    async with sessionmaker() as s:
        for k in range(0, n, 5000):
            await s.execute(insert(Report), rows[k : k + 5000])
        await s.commit()


async def timed(http, url: str, times: list[float], headers=None) -> tuple[int, int, str]:
    t0 = time.perf_counter()
    async with http.get(url, headers=headers or {}) as resp:
        body = await resp.read()
        status, etag = resp.status, resp.headers.get("ETag", "")
    times.append((time.perf_counter() - t0) * 1000)
    return status, len(body), etag


def summary(times: list[float]) -> dict:
    return {
        "n": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(percentile(times, 0.99), 2),
    }


async def run_database(url: str, args: argparse.Namespace) -> dict:
    from aiohttp import ClientSession, web
    from aiohttp.test_utils import TestServer

    from bot.areas import areas_of
    from bot.config import load_settings
    from bot.content import load_content
    from bot.core.services import Services
    from bot.flows.forms.schema import load_lists
    from bot.opendata import aggregate
    from bot.opendata.web import STATE_KEY, build_open_data_app
    from bot.storage.db import create_engine, create_sessionmaker

    settings = load_settings(ROOT / "config.yml", env={})
    content = load_content(settings.path(settings.content_dir))
    engine = create_engine(url)
    sm = create_sessionmaker(engine)
    indicators = aggregate.indicators_of(load_lists(settings.path(settings.content_dir)))
    t0 = time.perf_counter()
    await fill(sm, args.reports, areas_of(content), indicators)
    fill_s = time.perf_counter() - t0
    services = Services(
        settings=settings, content=content, nlu=None, catalogs=None, sessionmaker=sm
    )
    sub = build_open_data_app(services)
    app = web.Application()

    async def ping(_r):
        return web.Response(text="ok")

    app.router.add_get("/ping", ping)
    app.add_subapp("/open-data/", sub)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state = sub[STATE_KEY]
    out: dict = {"reports": args.reports, "fill_s": round(fill_s, 1)}
    try:
        async with ClientSession() as http:
            base = str(server.make_url(""))
            data = base + "/open-data/indicators.json"
            page = base + "/open-data/"
            for _ in range(3):  # warm up connections, the first plan
                await timed(http, base + "/ping", [])
            ping_t: list[float] = []
            for _ in range(args.requests):
                await timed(http, base + "/ping", ping_t)
            cold: list[float] = []
            size = 0
            for _ in range(args.cold):
                state.dataset = None  # as after a new report: rebuilt
                status, size, etag = await timed(http, data, cold)
                assert status == 200, status
            default = state.settings
            state.settings = dataclasses.replace(default, recheck_seconds=0.0)
            checked: list[float] = []
            for _ in range(args.requests):
                status, _, etag = await timed(http, data, checked)
                assert status == 200
            state.settings = default
            cached: list[float] = []
            for _ in range(args.requests):
                status, _, etag = await timed(http, data, cached)
                assert status == 200
            revalidated: list[float] = []
            for _ in range(args.requests):
                status, _, _ = await timed(http, data, revalidated, {"If-None-Match": etag})
                assert status == 304, status
            page_cold: list[float] = []
            for _ in range(args.cold):
                state.dataset = None
                status, page_size, _ = await timed(http, page, page_cold)
                assert status == 200
            page_cached: list[float] = []
            for _ in range(args.requests):
                await timed(http, page, page_cached)
            ds = await state.current()
            async with http.get(data, auto_decompress=False) as resp:
                gz_size = len(await resp.read())
                assert resp.headers.get("Content-Encoding") == "gzip"
        out.update(
            {
                "cells": len(ds.cells),
                "suppressed": sum(1 for c in ds.cells if c.suppressed),
                "json_bytes": size,
                "json_gzip_bytes": gz_size,
                "page_bytes": page_size,
                "ping": summary(ping_t),
                "cold": summary(cold),
                "checked": summary(checked),
                "cached": summary(cached),
                "304": summary(revalidated),
                "page_cold": summary(page_cold),
                "page_cached": summary(page_cached),
            }
        )
    finally:
        await server.close()
        await engine.dispose()
    return out


def run_sqlite(args: argparse.Namespace) -> dict:
    from bot.storage.db import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        return asyncio.run(run_database(url, args))


def run_postgres(args: argparse.Namespace) -> dict:
    from bot.storage.db import upgrade
    from tests.postgres import PostgresServer, drop_database, fresh_database

    server = PostgresServer().start()
    try:
        url = fresh_database(server.url())
        try:
            upgrade(url)
            return asyncio.run(run_database(url, args))
        finally:
            drop_database(url)
    finally:
        server.stop()


ROWS = [
    ("ping", "baseline: a trivial route"),
    ("cold", "indicators.json, aggregate rebuilt"),
    ("checked", "indicators.json, unchanged, fingerprint read"),
    ("cached", "indicators.json, unchanged, within recheck_seconds"),
    ("304", "indicators.json, If-None-Match"),
    ("page_cold", "the page (19 charts), rebuilt"),
    ("page_cached", "the page, data unchanged"),
]


def markdown(results: dict[str, dict], args: argparse.Namespace, busy: bool, load: float) -> str:
    lines = [BEGIN, ""]
    if busy:
        lines += [
            "**Measured on a busy machine** (other work running on its cores): compare the "
            "ratios to the baseline, not the absolute figures.",
            "",
        ]
    lines += [
        "| database | request | median | p99 | median / baseline | requests |",
        "|---|---|---|---|---|---|",
    ]
    for db, r in results.items():
        base = r["ping"]["median_ms"]
        for key, label in ROWS:
            k = r[key]
            lines.append(
                f"| {db} | {label} | {k['median_ms']:.1f} ms | {k['p99_ms']:.1f} ms | "
                f"{k['median_ms'] / base:.0f}× | {k['n']} |"
            )
    any_r = next(iter(results.values()))
    lines += [
        "",
        f"{any_r['reports']:,} reports (18 indicators, 96 communes and a village, 24 months; 2% "
        f"withdrawn, 1% sent back): {any_r['cells']:,} published cells, {any_r['suppressed']:,} "
        f"of them suppressed; the JSON is {any_r['json_bytes'] / 1024:.0f} KiB "
        f"({any_r['json_gzip_bytes'] / 1024:.0f} KiB sent gzipped, as here), the page "
        f"{any_r['page_bytes'] / 1024:.0f} KiB. One request at a time over loopback (aiohttp "
        "client and server in one process). `python -m benchmarks.bench_open_data`, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, load average {load:.1f} on "
        f"{os.cpu_count()} cores.",
        "",
        END,
    ]
    return "\n".join(lines)


def write_doc(md: str) -> None:
    write_section(DOC, BEGIN, END, md, "Open data: the indicators JSON with 100,000 reports")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cold", type=int, default=20)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--busy", action="store_true", help="say the machine was busy")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    busy = args.busy or load > 0.75 * (os.cpu_count() or 1)
    results: dict[str, dict] = {}
    for name in args.databases.split(","):
        if name == "sqlite":
            results["sqlite"] = run_sqlite(args)
        elif name == "postgresql":
            results["postgresql"] = run_postgres(args)
    md = markdown(results, args, busy, load)
    if args.write:
        write_doc(md)
    print(md)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
