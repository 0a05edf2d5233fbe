"""The staff overview's figures with 100,000 reports, 100,000 feedback rows, 20,000 subscribers and
a year of message counts, SQLite and PostgreSQL; and what counting a message costs a turn.

In one process: a migrated SQLite file and a throw-away PostgreSQL server (tests/postgres.py),
filled in bulk: `--rows` reports (every commune and a village, two years of dates) and as many
feedback rows (every status, 60% with an area), `--rows // 5` subscriptions (with areas and
four languages), and `turn_counts` for 365 days (4 channels, 4 languages, 3 outcomes, 8 shards:
what a year of traffic leaves, whatever its volume). Then, one call at a time:

- `select 1`: a trivial query on the same connection pool (the baseline: the ratio column);
- `overview, N days`: every figure of the page (`stats.overview`: messages by day, outcome,
  channel and language; reports by day and area; feedback by day and status; subscribers new,
  active, by language and area) for the last 7, 30, 90 and 365 days, a province account;
- `overview, 365 days, folded`: after the retention job folded past days' shards (17,520
  rows of counts instead of 140,160);
- `overview, 30 days, commune`: the same narrowed to one commune's subtree;
- `count a turn`: the upsert the `count` middleware adds to each message's transaction, in a
  transaction of its own with its commit, against an empty transaction's commit (`commit`).

Run: `python -m benchmarks.bench_overview [--rows N] [--repeat N] [--databases
sqlite,postgresql] [--write]` (`--write` puts the table in docs/benchmarks.md between the
overview markers). Prints a markdown table, then a JSON object (benchmarks/run.py keeps both).
"""

from __future__ import annotations

import argparse
import asyncio
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

BEGIN, END = "<!-- overview:begin -->", "<!-- overview:end -->"
DOC = ROOT / "docs" / "benchmarks.md"
ZONE = "Asia/Ho_Chi_Minh"
STATUSES = ("submitted", "received", "in_progress", "resolved", "rejected")
LANGS = ("vi", "hre", "cua", "sed")


async def fill(sm, n: int, places: list[str], now: datetime) -> None:
    from sqlalchemy import insert

    from bot.storage.models import Feedback, Report, Subscription, TurnCount, User

    rnd = random.Random(1719)
    start = now - timedelta(days=730)
    step = timedelta(days=730) / max(1, n)
    reports, feedback = [], []
    for i in range(n):
        at = start + step * i
        reports.append(
            {
                "project": 1 + i % 10,
                "indicator": f"ind_{i % 18}",
                "area_code": rnd.choice(places),
                "period": at.strftime("%Y-%m"),
                "value": float(rnd.randint(0, 40)),
                "unit": "",
                "officer_role": "officer",
                "channel": "telegram",
                "status": "submitted",
                "version": 1,
                "created_at": at,
                "updated_at": at,
            }
        )
        feedback.append(
            {
                "code": f"B{i:07d}",
                "channel": "zalo",
                "lang": "vi",
                "category": "cong_trinh",
                "description": "x",
                "status": rnd.choice(STATUSES),
                "area_code": rnd.choice(places) if rnd.random() < 0.6 else None,
                "created_at": at,
                "updated_at": at,
            }
        )
    async with sm() as s:
        for k in range(0, n, 5000):
            await s.execute(insert(Report), reports[k : k + 5000])
            await s.execute(insert(Feedback), feedback[k : k + 5000])
        people = n // 5
        users = [
            {
                "channel": "telegram",
                "external_id": f"b{i}",
                "locale": LANGS[i % 4],
                "role": "villager",
                "state": {},
                "reachable": True,
                "created_at": now,
                "last_seen_at": now,
            }
            for i in range(people)
        ]
        for k in range(0, people, 5000):
            await s.execute(insert(User), users[k : k + 5000])
        ids = list((await s.execute(User.__table__.select().with_only_columns(User.id))).scalars())
        subs = [
            {
                "user_id": uid,
                "channel": "telegram",
                "active": rnd.random() < 0.9,
                "area_code": rnd.choice(places),
                "created_at": start + step * 5 * j,
                "updated_at": now,
            }
            for j, uid in enumerate(ids)
        ]
        for k in range(0, len(subs), 5000):
            await s.execute(insert(Subscription), subs[k : k + 5000])
        counts = []
        for d in range(365):
            day = (now - timedelta(days=d)).date().isoformat()
            for ch in ("telegram", "zalo", "web", "zalo_bot"):
                for lang in LANGS:
                    for outcome in ("answered", "not_answered", "other"):
                        for shard in range(8):
                            counts.append(
                                {
                                    "day": day,
                                    "channel": ch,
                                    "lang": lang,
                                    "outcome": outcome,
                                    "shard": shard,
                                    "n": rnd.randint(0, 40),
                                }
                            )
        for k in range(0, len(counts), 5000):
            await s.execute(insert(TurnCount), counts[k : k + 5000])
        await s.commit()


def summary(times: list[float]) -> dict:
    return {
        "n": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(percentile(times, 0.99), 2),
    }


async def run_database(url: str, args: argparse.Namespace) -> dict:
    from sqlalchemy import or_, text

    from bot.content import load_content
    from bot.storage.db import create_engine, create_sessionmaker
    from bot.storage.models import Feedback, Report, Subscription
    from bot.storage.repositories import stats

    content = load_content(ROOT / "content")
    places = [a.code for a in content.areas if a.level in ("commune", "village")]
    engine = create_engine(url)
    sm = create_sessionmaker(engine)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    await fill(sm, args.rows, places, now)
    out: dict = {"rows": args.rows, "fill_s": round(time.perf_counter() - t0, 1)}
    if "postgresql" in url:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    today = datetime.now().astimezone().date()
    commune = "qng.ba_dong"

    def area(col):
        return or_(col == commune, col.startswith(commune + ".", autoescape=True))

    try:
        base: list[float] = []
        async with sm() as s:
            for _ in range(args.repeat):
                t = time.perf_counter()
                await s.execute(text("SELECT 1"))
                base.append((time.perf_counter() - t) * 1000)
        out["select 1"] = summary(base)
        for days in (7, 30, 90, 365):
            period = stats.Period(today - timedelta(days=days - 1), today, ZONE)
            times: list[float] = []
            for _ in range(args.repeat if days < 365 else max(5, args.repeat // 4)):
                async with sm() as s:
                    t = time.perf_counter()
                    o = await stats.overview(s, period)
                    times.append((time.perf_counter() - t) * 1000)
            out[f"overview {days}"] = summary(times)
            out[f"reports in {days} days"] = o.reports.total()
        # What the retention job leaves: past days' shards folded (stats.compact).
        async with sm() as s:
            while await stats.compact(s, (today - timedelta(days=1)).isoformat(), days=400):
                await s.commit()
            await s.commit()
        year = stats.Period(today - timedelta(days=364), today, ZONE)
        times = []
        for _ in range(max(5, args.repeat // 4)):
            async with sm() as s:
                t = time.perf_counter()
                await stats.overview(s, year)
                times.append((time.perf_counter() - t) * 1000)
        out["overview 365 compacted"] = summary(times)
        period = stats.Period(today - timedelta(days=29), today, ZONE)
        times = []
        for _ in range(args.repeat):
            async with sm() as s:
                t = time.perf_counter()
                await stats.overview(
                    s,
                    period,
                    report_area=area(Report.area_code),
                    feedback_area=area(Feedback.area_code),
                    subscription_area=area(Subscription.area_code),
                )
                times.append((time.perf_counter() - t) * 1000)
        out["overview commune"] = summary(times)
        empty, counted = [], []
        for i in range(args.repeat * 2):
            async with sm() as s:
                t = time.perf_counter()
                await s.execute(text("SELECT 1"))
                await s.commit()
                empty.append((time.perf_counter() - t) * 1000)
            async with sm() as s:
                t = time.perf_counter()
                await stats.count_turn(s, now, ZONE, "web", "vi", "answered", f"u{i}")
                await s.commit()
                counted.append((time.perf_counter() - t) * 1000)
        out["commit"] = summary(empty)
        out["count a turn"] = summary(counted)
    finally:
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
    ("select 1", "baseline: SELECT 1"),
    ("overview 7", "overview, 7 days"),
    ("overview 30", "overview, 30 days"),
    ("overview 90", "overview, 90 days"),
    ("overview 365", "overview, 365 days"),
    ("overview 365 compacted", "overview, 365 days, past days' shards folded"),
    ("overview commune", "overview, 30 days, a commune's subtree"),
    ("commit", "an empty transaction (baseline for the next row)"),
    ("count a turn", "the turn counter's upsert and commit"),
]


def markdown(results: dict[str, dict], busy: bool, load: float) -> str:
    lines = [BEGIN, ""]
    if busy:
        lines += [
            "**Measured on a busy machine** (other work running on its cores): compare the "
            "ratios to the baseline, not the absolute figures.",
            "",
        ]
    lines += [
        "| database | what | median | p99 | median / SELECT 1 | calls |",
        "|---|---|---|---|---|---|",
    ]
    for db, r in results.items():
        base = r["select 1"]["median_ms"] or 0.01
        for key, label in ROWS:
            k = r[key]
            lines.append(
                f"| {db} | {label} | {k['median_ms']:.2f} ms | {k['p99_ms']:.2f} ms | "
                f"{k['median_ms'] / base:.0f}× | {k['n']} |"
            )
    any_r = next(iter(results.values()))
    lines += [
        "",
        f"{any_r['rows']:,} reports and {any_r['rows']:,} feedback rows over two years, "
        f"{any_r['rows'] // 5:,} subscribers, a year of `turn_counts` (140,160 rows: 4 "
        "channels, 4 languages, 3 outcomes, 8 shards a day). The figures "
        "of the whole page (`bot.storage.repositories.stats.overview`, 12 aggregate queries), "
        "without the HTML and the charts. `python -m benchmarks.bench_overview`, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, load average {load:.1f} on "
        f"{os.cpu_count()} cores.",
        "",
        END,
    ]
    return "\n".join(lines)


def write_doc(md: str) -> None:
    write_section(DOC, BEGIN, END, md, "Staff overview: the figures with 100,000 rows")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
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
    md = markdown(results, busy, load)
    print(md)
    print(json.dumps(results, indent=2))
    if args.write:
        write_doc(md)
    return results


if __name__ == "__main__":
    main()
