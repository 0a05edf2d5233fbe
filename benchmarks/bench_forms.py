"""Form turns through the whole pipeline, next to plain question-answer turns, same run.

In one process, `build_pipeline` on a migrated SQLite file and on a throw-away PostgreSQL server
(tests/postgres.py). Officers (joined with invite codes, consent given: not measured) send a
one-line report and confirm it (2 turns); citizens (feedback consent given) fill the whole
feedback form: /phananh, a category button, the description, skip photo and location, a phone,
send (7 turns; each writes the form state, the last a feedback row with its tracking code).
The same users then ask as many questions (the question pool of bench_load) as they typed form
turns. Users run concurrently, each one's turns in order, as the inbound worker runs them.
Rounds alternate form and question phases; the table gives the median of the rounds' turns per
second and p99 per turn, and the ratio form / question.

Run: `python -m benchmarks.bench_forms [--users N] [--rounds N] [--databases sqlite,postgresql]`.
Prints a markdown table, then a JSON object (benchmarks/run.py keeps both).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.stats import percentile  # noqa: E402

_ids = itertools.count(1)


def msg(sender: str, text: str = "", payload: str | None = None):
    from bot.messages import IncomingMessage

    return IncomingMessage(
        channel="web",
        sender_id=sender,
        message_id=f"b{next(_ids)}",
        text=text,
        payload=payload,
        locale_hint="vi",
    )


async def setup(pipeline: Any, services: Any, officers_n: int, citizens_n: int) -> None:
    from bot import officers

    for i in range(officers_n):
        async with services.sessionmaker() as s:
            made = await officers.make_invite(s, services.settings, "qng.ba_dong", timedelta(1))
            await s.commit()
        await pipeline.handle(msg(f"o{i}", f"/macanbo {made.code}"))
        await pipeline.handle(msg(f"o{i}", payload="/consent yes"))
    for i in range(citizens_n):
        await pipeline.handle(msg(f"c{i}", "/phananh"))
        await pipeline.handle(msg(f"c{i}", payload="/consent yes"))
        await pipeline.handle(msg(f"c{i}", "hủy"))


async def timed(pipeline: Any, m: Any, times: list[float]) -> Any:
    t0 = time.perf_counter()
    turn = await pipeline.handle(m)
    times.append((time.perf_counter() - t0) * 1000)
    return turn


async def form_user(pipeline: Any, sender: str, times: list[float], n: int) -> None:
    if sender.startswith("o"):
        turn = await timed(pipeline, msg(sender, f"bc da1 nha o {n % 90 + 1} ho thang 11"), times)
        turn = await timed(pipeline, msg(sender, "gửi"), times)
        assert "Đã nhận báo cáo" in turn.replies[-1].text, turn.replies[-1].text
        return
    turn = await timed(pipeline, msg(sender, "/phananh"), times)
    category = turn.replies[-1].buttons[n % 6].payload
    await timed(pipeline, msg(sender, payload=category), times)
    await timed(pipeline, msg(sender, "Đường vào thôn bị sạt lở sau mưa lớn"), times)
    await timed(pipeline, msg(sender, "bỏ qua"), times)
    await timed(pipeline, msg(sender, "bỏ qua"), times)
    await timed(pipeline, msg(sender, "0905 123 456"), times)
    turn = await timed(pipeline, msg(sender, "gửi"), times)
    assert "Mã theo dõi" in turn.replies[-1].text, turn.replies[-1].text


async def qa_user(pipeline: Any, sender: str, times: list[float], questions: list[str]) -> None:
    for q in questions:
        await timed(pipeline, msg(sender, q), times)


async def phase(coros: list) -> tuple[float, float, int]:
    """(turns per second, p99 ms, turns) of the users' turns run together."""
    times: list[float] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(c(times) for c in coros))
    wall = time.perf_counter() - t0
    return len(times) / wall, percentile(times, 0.99), len(times)


async def run_database(db_url: str, args: argparse.Namespace) -> dict:
    from benchmarks.bench_load import question_pool
    from bot.app import build_pipeline, build_services
    from bot.config import load_settings
    from bot.outbox.sender import RetryPolicy

    settings = load_settings(ROOT / "config.yml", env={})
    settings = dataclasses.replace(
        settings,
        limits=dataclasses.replace(settings.limits, flood_messages=10**9),
        privacy=dataclasses.replace(
            settings.privacy, export_dir=tempfile.mkdtemp(prefix="bench-forms-")
        ),
    )
    services, engine = await asyncio.to_thread(build_services, settings, db_url)
    pipeline = build_pipeline(services)
    pipeline.reply_lease = RetryPolicy().lease  # as the inbound worker sets it
    officers_n = max(1, args.users // 4)
    citizens_n = max(1, args.users - officers_n)
    users = [f"o{i}" for i in range(officers_n)] + [f"c{i}" for i in range(citizens_n)]
    pool = question_pool()
    try:
        await setup(pipeline, services, officers_n, citizens_n)
        rounds: dict[str, list[tuple[float, float, int]]] = {"form": [], "qa": []}
        for r in range(args.rounds):
            forms = [
                (lambda times, u=u, n=r * 1000 + n: form_user(pipeline, u, times, n))
                for n, u in enumerate(users)
            ]
            rounds["form"].append(await phase(forms))
            qas = []
            for n, u in enumerate(users):
                k = 2 if u.startswith("o") else 7  # as many turns as the user's form had
                qs = [pool[(r * 7919 + n * 31 + j) % len(pool)] for j in range(k)]
                qas.append(lambda times, u=u, qs=qs: qa_user(pipeline, u, times, qs))
            rounds["qa"].append(await phase(qas))
    finally:
        await engine.dispose()
    out: dict[str, Any] = {"users": len(users), "officers": officers_n, "rounds": args.rounds}
    for kind, got in rounds.items():
        out[kind] = {
            "turns_per_round": got[0][2],
            "per_s": statistics.median(g[0] for g in got),
            "p99_ms": statistics.median(g[1] for g in got),
            "rounds_per_s": [round(g[0], 1) for g in got],
        }
    out["ratio_per_s"] = out["form"]["per_s"] / out["qa"]["per_s"]
    out["ratio_p99"] = out["form"]["p99_ms"] / out["qa"]["p99_ms"]
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


def markdown(results: dict[str, dict], args: argparse.Namespace, busy: bool) -> str:
    lines = []
    if busy:
        lines += [
            "**Measured on a busy machine** (other work running on its 2 cores): a first run, "
            "to be measured again; compare the ratios, not the absolute figures.",
            "",
        ]
    lines += [
        "| database | turn | turns / s (median of rounds) | p99 per turn | turns a round |",
        "|---|---|---|---|---|",
    ]
    for db, r in results.items():
        for kind, label in (("form", "form step"), ("qa", "question-answer")):
            k = r[kind]
            lines.append(
                f"| {db} | {label} | {k['per_s']:.0f} | {k['p99_ms']:.1f} ms | "
                f"{k['turns_per_round']} |"
            )
        lines.append(
            f"| {db} | **form / question** | **{r['ratio_per_s']:.2f}×** | "
            f"**{r['ratio_p99']:.2f}×** | |"
        )
    any_r = next(iter(results.values()))
    lines += [
        "",
        f"{any_r['users']} users at once ({any_r['officers']} officers sending a one-line report "
        "and confirming it, the others filling the 7-step feedback form), "
        f"{args.rounds} rounds, each a form phase then a question phase of as many turns; "
        "in-process `build_pipeline` (NLU, dialogue, form state, rows, outbox), no channel.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--busy", action="store_true", help="say the machine was busy")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    busy = args.busy or load > 0.75 * (os.cpu_count() or 1)  # others' work on the cores
    results: dict[str, dict] = {}
    for name in args.databases.split(","):
        if name == "sqlite":
            results["sqlite"] = run_sqlite(args)
        elif name == "postgresql":
            results["postgresql"] = run_postgres(args)
    md = markdown(results, args, busy)
    md += f"\n\nLoad average when it started: {load:.1f} on {os.cpu_count()} cores."
    print(md)
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
