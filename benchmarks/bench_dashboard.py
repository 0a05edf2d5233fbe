"""The staff dashboard with 100,000 reports and 100,000 feedback rows, SQLite and PostgreSQL.

In one process: a migrated SQLite file and a throw-away PostgreSQL server (tests/postgres.py),
each filled in bulk (multi-row INSERTs of 5,000) with `--rows` officers' reports (300 officers in
every commune and a village, 18 indicators, 24 months, 2% withdrawn, 1% sent back, half checked,
a third with a note) and as many citizens' feedback rows (2,000 citizens, six categories, every
status, two years of dates, a third assigned, 40% with an area). The dashboard is served as a
deployment with `staff.port` serves it (`bot.app.build_dashboard_app`: the security headers, the
one session cookie, /staff/ and /open-data/) on a loopback port; a province account and a commune
account log in through the login form; pages are requested one at a time over HTTP:

- `ping`: a trivial route on the same server (the baseline: the ratio column is against it);
- `reports, filtered`: the reports page under a rotation of filters (an area's subtree, a
  project and a year, an indicator, a review state, an officer, sorted by value, three filters
  at once), each with its capped count and the officer list;
- `reports, page 21`: the 21st page reached through the keyset cursor (1,000 rows in);
- `reports, commune account`: its subtree only;
- `feedback inbox`: unfiltered, open and overdue, one category, unassigned (in rotation);
- `overview`: /staff/overview, when that page exists (another helper builds it);
- exports: every report, then every feedback row, as CSV and XLSX: time, size, and the
  process's peak resident memory above what it held before (sampled every 10 ms).

EXPLAIN (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN after ANALYZE) of the main filtered
queries is printed with the JSON, to show which index each uses. SQLite is not ANALYZEd (the
bot never runs it); PostgreSQL is, as autovacuum would after such a load.

Run: `python -m benchmarks.bench_dashboard [--rows N] [--requests N] [--databases
sqlite,postgresql] [--write]` (`--write` puts the table in docs/benchmarks.md between the
dashboard markers). Prints a markdown table, then a JSON object (benchmarks/run.py keeps both).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stats import percentile, write_section  # noqa: E402

BEGIN, END = "<!-- dashboard:begin -->", "<!-- dashboard:end -->"
DOC = ROOT / "docs" / "benchmarks.md"
PASSWORD = "mật khẩu benchmark 2026"
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')
CHUNK = 5000


async def fill(sessionmaker, n: int, tree, indicators, categories, staff_ids) -> dict:
    from sqlalchemy import insert, select

    from bot.feedback import tracking
    from bot.storage.models import Feedback, Report, User

    rnd = random.Random(1719)
    communes = [a.code for a in tree.areas if a.level == "commune"]
    villages = [a.code for a in tree.areas if a.level == "village"]
    places = communes + villages
    periods = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    async with sessionmaker() as s:
        officers = [
            {
                "channel": "telegram",
                "external_id": f"9{i:08d}",
                "role": "officer",
                "area_code": rnd.choice(communes),
                "display_name": f"Cán bộ {i}",
                "locale": "vi",
                "state": {},
            }
            for i in range(300)
        ]
        citizens = [
            {
                "channel": rnd.choice(["telegram", "zalo", "web"]),
                "external_id": f"c{i:08d}",
                "role": "villager",
                "locale": "vi",
                "state": {},
            }
            for i in range(2000)
        ]
        await s.execute(insert(User), officers + citizens)
        await s.commit()
        got = await s.execute(select(User.id, User.area_code, User.role).order_by(User.id))
        users = got.all()
    officer_rows = [(uid, area) for uid, area, role in users if role == "officer"]
    citizen_ids = [uid for uid, _a, role in users if role == "villager"]
    reports = []
    for i in range(n):
        ind = indicators[i % len(indicators)]
        officer, area = officer_rows[rnd.randrange(len(officer_rows))]
        r = rnd.random()
        status, review = "submitted", "pending"
        if r < 0.02:
            status = "withdrawn"
        elif r < 0.03:
            review = "sent_back"
        elif r < 0.5:
            review = "checked"
        at = start + timedelta(minutes=7 * i)
        reports.append(
            {
                "project": ind.project,
                "indicator": ind.code,
                "area_code": area if rnd.random() < 0.7 else rnd.choice(places),
                "period": rnd.choice(periods),
                "value": float(rnd.randint(0, 40)),
                "unit": ind.unit,
                "note": f"Ghi chú thôn {i % 40}, đợt {i % 7}" if rnd.random() < 0.33 else None,
                "officer_id": officer,
                "officer_role": "officer",
                "officer_area": area,
                "channel": "telegram",
                "status": status,
                "version": 1,
                "review": review,
                "created_at": at,
                "updated_at": at,
            }
        )
    codes: set[str] = set()
    feedback = []
    statuses = ["submitted"] * 3 + ["received"] * 2 + ["in_progress"] * 2 + ["resolved"] * 2
    statuses += ["rejected"]
    fb_start = datetime.now(UTC) - timedelta(days=730)
    for i in range(n):
        code = tracking.new_code()
        while code in codes:
            code = tracking.new_code()
        codes.add(code)
        at = fb_start + timedelta(minutes=7 * i)
        feedback.append(
            {
                "code": code,
                "user_id": rnd.choice(citizen_ids),
                "channel": "telegram",
                "lang": "vi",
                "category": rnd.choice(categories),
                "description": f"Phản ánh số {i}: đường vào thôn {i % 40} bị sạt lở sau mưa.",
                "status": rnd.choice(statuses),
                "assigned_to": rnd.choice(staff_ids) if rnd.random() < 0.33 else None,
                "area_code": rnd.choice(communes) if rnd.random() < 0.4 else None,
                "created_at": at,
                "updated_at": at,
            }
        )
    async with sessionmaker() as s:
        for k in range(0, n, CHUNK):
            await s.execute(insert(Report), reports[k : k + CHUNK])
        for k in range(0, n, CHUNK):
            await s.execute(insert(Feedback), feedback[k : k + CHUNK])
        await s.commit()
    return {"officer": officer_rows[0][0], "commune": officer_rows[0][1]}


async def timed(http, url: str, times: list[float] | None = None) -> tuple[int, str]:
    t0 = time.perf_counter()
    async with http.get(url, allow_redirects=False) as resp:
        body = await resp.text()
        status = resp.status
    if times is not None:
        times.append((time.perf_counter() - t0) * 1000)
    return status, body


def summary(times: list[float]) -> dict:
    return {
        "n": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p99_ms": round(percentile(times, 0.99), 2),
    }


async def login(http, base: str, name: str) -> None:
    _, body = await timed(http, base + "/staff/login")
    token = CSRF_RE.search(body).group(1)
    async with http.post(
        base + "/staff/login",
        data={"_csrf": token, "name": name, "password": PASSWORD},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303, (resp.status, await resp.text())


class PeakRss:
    """The process's resident memory, sampled every 10 ms in a thread, above where it started."""

    def __enter__(self) -> PeakRss:
        import psutil

        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


async def export(http, url: str) -> dict:
    with PeakRss() as mem:
        t0 = time.perf_counter()
        size = 0
        async with http.get(url) as resp:
            assert resp.status == 200, resp.status
            async for chunk in resp.content.iter_chunked(1 << 16):
                size += len(chunk)
        seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), "mib": round(size / 2**20, 1), "rss_mb": mem.growth_mb}


async def explain(session, dialect: str, stmt) -> list[str]:
    from sqlalchemy import text

    sql = str(
        stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    )
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    rows = (await session.execute(text(prefix + sql))).all()
    return [str(r[-1]) for r in rows]


async def plans(sessionmaker, dialect: str, commune: str) -> dict:
    from bot.storage.models import Report
    from bot.storage.repositories import reports as repo

    cases = {
        "area subtree": repo.ReportFilter(area=commune),
        "project + year": repo.ReportFilter(project=3, period="2026"),
        "state sent_back": repo.ReportFilter(state="sent_back"),
        "officer": repo.ReportFilter(officer=1),
    }
    out = {}
    async with sessionmaker() as s:
        for name, f in cases.items():
            q = (
                repo._listing_query(s, f)
                .order_by(Report.created_at.desc(), Report.id.desc())
                .limit(51)
            )
            out[name] = await explain(s, dialect, q)
    return out


async def run_database(url: str, args: argparse.Namespace) -> dict:
    from aiohttp import ClientSession, CookieJar, web
    from aiohttp.test_utils import TestServer

    from bot.app import build_dashboard_app
    from bot.areas import areas_of
    from bot.config import load_settings
    from bot.content import load_content
    from bot.core.services import Services
    from bot.flows.forms.schema import load_lists
    from bot.i18n import Catalogs
    from bot.opendata import aggregate
    from bot.staff.auth import hash_password
    from bot.storage.db import create_engine, create_sessionmaker
    from bot.storage.repositories import staff as staff_repo

    settings = load_settings(ROOT / "config.yml", env={})
    staff_settings = dataclasses.replace(
        settings.staff, argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1
    )
    settings = dataclasses.replace(settings, staff=staff_settings)
    content = load_content(settings.path(settings.content_dir))
    lists = load_lists(settings.path(settings.content_dir))
    engine = create_engine(url)
    sm = create_sessionmaker(engine)
    dialect = engine.dialect.name
    tree = areas_of(content)
    communes = [a.code for a in tree.areas if a.level == "commune"]
    async with sm() as s:
        hashed = await hash_password(PASSWORD, settings.staff)
        province = staff_repo.add_account(s, "tinh.bench", hashed, "province", None)
        others = [
            staff_repo.add_account(s, f"xa.bench{i}", hashed, "commune", communes[i])
            for i in range(5)
        ]
        await s.commit()
        staff_ids = [province.id] + [o.id for o in others]
        commune_account = others[0]
    t0 = time.perf_counter()
    seeded = await fill(
        sm,
        args.rows,
        tree,
        aggregate.indicators_of(lists),
        [str(o.value) for o in lists.feedback_categories],
        staff_ids,
    )
    fill_s = time.perf_counter() - t0
    if dialect == "postgresql":
        from sqlalchemy import text

        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    catalogs = Catalogs(settings.path("content/locales"), settings.path("var/locales"))
    services = Services(
        settings=settings, content=content, nlu=None, catalogs=catalogs, sessionmaker=sm
    )
    app = build_dashboard_app(services, engine)

    async def ping(_r):
        return web.Response(text="ok")

    app.router.add_get("/bench-ping", ping)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    commune = commune_account.area_code
    out: dict = {"rows": args.rows, "fill_s": round(fill_s, 1)}
    try:
        base = str(server.make_url("")).rstrip("/")
        jar = CookieJar(unsafe=True)
        async with (
            ClientSession(cookie_jar=jar) as http,
            ClientSession(cookie_jar=CookieJar(unsafe=True)) as commune_http,
        ):
            await login(http, base, "tinh.bench")
            await login(commune_http, base, commune_account.name)
            for _ in range(3):
                await timed(http, base + "/bench-ping")
                await timed(http, base + "/staff/reports")
            ping_t: list[float] = []
            for _ in range(args.requests):
                await timed(http, base + "/bench-ping", ping_t)
            filters = [
                f"area={commune}",
                "project=3&period=2026",
                "indicator=" + aggregate.indicators_of(lists)[0].code,
                "state=sent_back",
                f"officer={seeded['officer']}",
                "sort=value&order=asc",
                f"area={seeded['commune']}&project=1&state=checked",
                "",
            ]
            filtered: list[float] = []
            for i in range(args.requests):
                status, _ = await timed(
                    http, f"{base}/staff/reports?{filters[i % len(filters)]}", filtered
                )
                assert status == 200, status
            # page 21 through the cursor
            _, body = await timed(http, base + "/staff/reports")
            url = base + "/staff/reports"
            for _ in range(20):
                found = re.search(r'href="([^"]+)" rel="next"', body)
                url = base + found.group(1).replace("&amp;", "&")
                _, body = await timed(http, url)
            deep: list[float] = []
            for _ in range(args.requests // 2):
                status, _ = await timed(http, url, deep)
                assert status == 200
            scoped: list[float] = []
            for _ in range(args.requests // 2):
                status, _ = await timed(commune_http, base + "/staff/reports", scoped)
                assert status == 200
            inbox_filters = ["", "status=open&overdue=1", "category=cong_trinh", "assigned=none"]
            inbox: list[float] = []
            for i in range(args.requests):
                status, _ = await timed(
                    http, f"{base}/staff/feedback?{inbox_filters[i % 4]}", inbox
                )
                assert status == 200, status
            overview = None
            status, _ = await timed(http, base + "/staff/overview")
            out["overview_status"] = status
            if status == 200:
                times: list[float] = []
                for _ in range(max(10, args.requests // 4)):
                    await timed(http, base + "/staff/overview", times)
                overview = summary(times)
            exports = {}
            for what in ("reports", "feedback"):
                for fmt in ("csv", "xlsx"):
                    exports[f"{what}_{fmt}"] = await export(
                        http, f"{base}/staff/{what}/export?format={fmt}"
                    )
        out.update(
            {
                "ping": summary(ping_t),
                "reports_filtered": summary(filtered),
                "reports_page21": summary(deep),
                "reports_commune": summary(scoped),
                "feedback_inbox": summary(inbox),
                "overview": overview,
                "exports": exports,
                "plans": await plans(sm, dialect, commune),
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
    ("reports_filtered", "reports page, 8 filters in rotation"),
    ("reports_page21", "reports page 21 (keyset cursor)"),
    ("reports_commune", "reports page, a commune account"),
    ("feedback_inbox", "feedback inbox, 4 filters in rotation"),
    ("overview", "overview page"),
]
EXPORTS = [
    ("reports_csv", "every report, CSV"),
    ("reports_xlsx", "every report, XLSX"),
    ("feedback_csv", "every feedback, CSV"),
    ("feedback_xlsx", "every feedback, XLSX"),
]


def _index_of(plan: list[str]) -> str:
    found = set()
    for line in plan:
        found.update(re.findall(r"\b(ix_[a-z_]+)", line))
    if not found:
        return "table scan" if any("SCAN" in p or "Seq Scan" in p for p in plan) else "?"
    return ", ".join(sorted(found))


def markdown(results: dict[str, dict], busy: bool, load: float) -> str:
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
            k = r.get(key)
            if k is None:
                got = r.get("overview_status")
                lines.append(f"| {db} | {label} | not measured: HTTP {got} | | | |")
                continue
            lines.append(
                f"| {db} | {label} | {k['median_ms']:.1f} ms | {k['p99_ms']:.1f} ms | "
                f"{k['median_ms'] / base:.0f}× | {k['n']} |"
            )
    lines += [
        "",
        "| database | export | time | file | peak memory above start |",
        "|---|---|---|---|---|",
    ]
    for db, r in results.items():
        for key, label in EXPORTS:
            e = r["exports"][key]
            lines.append(
                f"| {db} | {label} | {e['seconds']:.1f} s | {e['mib']:.1f} MiB | "
                f"{e['rss_mb']:.0f} MB |"
            )
    lines += ["", "Indexes the filtered report queries use (EXPLAIN):", ""]
    for db, r in results.items():
        parts = [f"{name}: {_index_of(plan)}" for name, plan in r["plans"].items()]
        lines.append(f"- {db}: " + "; ".join(parts))
    any_r = next(iter(results.values()))
    lines += [
        "",
        f"{any_r['rows']:,} reports and {any_r['rows']:,} feedback rows, bulk-inserted "
        f"({any_r['fill_s']:.0f} s on SQLite here); one request at a time over loopback, the "
        "aiohttp client and the dashboard (`build_dashboard_app`) in one process, a province "
        "account logged in. Each page includes its capped count (up to 10,001) and its filter "
        "lists. Export memory is the whole process's (server and client) resident growth. "
        "XLSX exports take several times longer than CSV: openpyxl writes every cell through "
        "Python's ElementTree (it would use lxml, much faster, if that were installed), in a "
        "worker thread so the event loop keeps serving; the file is sent once built, so a "
        "proxy in front needs a read timeout above that time for the largest exports. "
        f"`python -m benchmarks.bench_dashboard`, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, load average {load:.1f} on "
        f"{os.cpu_count()} cores.",
        "",
        END,
    ]
    return "\n".join(lines)


def write_doc(md: str) -> None:
    write_section(DOC, BEGIN, END, md, "Staff dashboard: 100,000 reports and feedback rows")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
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
    if args.write:
        write_doc(md)
    print(md)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
