"""Durability: the running bot SIGKILLed five times under load; replies lost and sent twice.

The bot is a real child process (`python -m bot run --no-console`, tests/processes.py) on a
SQLite file, talking to the fake Telegram Bot API (polling) and the fake Zalo OA API, both real
aiohttp servers in this process (tests/fakes/). Telegram and Zalo run together, in the same bot
process, over the same window:

- Telegram: `--telegram` updates (2,000) queued for getUpdates at `--rate` per second (20), as
  Telegram queues them whether the bot is up or not;
- Zalo: `--zalo` webhook events (1,000), signed as Zalo signs them, offered over the same window
  (10/s by default); an event whose POST fails or is not answered 200 (the bot is down, starting,
  or died mid-request) is posted again every 0.2 s until it gets 200, as Zalo retries.

Both fakes answer each send after `--send-latency` (50 ms), a platform's round trip: on loopback a
send takes about a millisecond, and a kill would almost never find one in flight.

Every user sends 4 messages, one after the other (Telegram: 4 consecutive updates of one chat;
Zalo: the user's next event once the previous one got its 200): a question for the NLU, then
`/help`, `/human` and an unknown command. Each has a deterministic reply (the question's answer
and, being the user's first words, the language choice; then the help text, the contact text and
"unknown command"), found before the run by the same pipeline in this process on a scratch
database, so every user expects the same 5 distinct reply texts, in order.

During the load the bot is killed with SIGKILL `--kills` times (5) at moments drawn from a seeded
RNG (uniform over the load window, each at least `MIN_UPTIME` after the previous restart), and
restarted at once: a new process on the same database and port. Right after each kill (the
process is dead, the database still), the outbox rows being sent (`status = 'sending'`: claimed,
not marked sent) are read from the database: these are the sends in flight at the kill. Those
whose text the fake had already received for that chat will be sent again once their lease
lapses (the outbox is at-least-once): the duplicates a kill may cause.

At the end the benchmark waits (bounded by `--settle-timeout`) until no reply is missing and the
outbox and the inbox have nothing unfinished, then stops the bot with SIGTERM and counts, from
the fakes' logs: lost (an input with an expected reply the fake never got), answered twice (an
input with a reply the fake got more than once for that chat), duplicates explained by a send in
flight at a kill, and those beyond (the target is 0 lost and 0 beyond), replies out of order, and
unexpected replies. Prints a markdown table, then a JSON object.

Run: `python -m benchmarks.bench_durability [--quick] [--seed N] [--keep]` (`--quick`: 300 + 150
messages, for trying it). Only loopback traffic; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.stats import free_port, percentile

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.channels.zalo import WEBHOOK_PATH  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, FakeZaloApi, event, post_event  # noqa: E402

SEED = 1719
QUESTIONS = [
    "hỗ trợ xây nhà cho hộ nghèo",
    "ho tro nuoc sinh hoat",
    "quế trà bồng bán ở mô",
    "dự án 4 làm chi",
    "bảo hiểm y tế cho đồng bào",
    "hoc nghe o dau",
]
FOLLOW_UPS = ["/help", "/human", "/xyz"]
PER_USER = 1 + len(FOLLOW_UPS)
MIN_UPTIME = 1.0  # seconds a restarted bot runs before the next kill
ZALO_RETRY = 0.2  # seconds between two POSTs of an event that did not get 200
TELEGRAM_BASE_CHAT = 6_100_000_000


def user_texts(user: int) -> list[str]:
    return [QUESTIONS[user % len(QUESTIONS)], *FOLLOW_UPS]


def zalo_user(k: int) -> str:
    return f"87{k:016d}"


# --------------------------------------------------------------------------- expected replies


async def expected_replies(settings: Any, tmp: Path) -> dict[str, dict[int, list[list[str]]]]:
    """channel -> question index -> per message, the texts its replies become on the wire."""
    from bot.app import build_pipeline, build_services
    from bot.channels.telegram import reply_parts
    from bot.channels.zalo import outgoing
    from bot.messages import IncomingMessage
    from bot.storage.db import upgrade_async

    url = f"sqlite+aiosqlite:///{tmp}/reference.db"
    await upgrade_async(url)
    services, engine = await asyncio.to_thread(build_services, settings, url)
    pipeline = build_pipeline(services)
    wire = {
        "telegram": lambda r: [p.caption or p.value for p in reply_parts(r)],
        "zalo": lambda r: [o.value for o in outgoing(r) if o.kind == "text"],
    }
    out: dict[str, dict[int, list[list[str]]]] = {"telegram": {}, "zalo": {}}
    try:
        for channel in out:
            for q in range(len(QUESTIONS)):
                seen: list[list[list[str]]] = []
                for copy in range(2):  # two users each: the replies must not depend on the user
                    sender = f"ref{q}-{copy}"
                    per_msg = []
                    for pos, text in enumerate(user_texts(q)):
                        turn = await pipeline.handle(
                            IncomingMessage(
                                channel=channel,
                                sender_id=sender,
                                message_id=f"{sender}-{pos}",
                                text=text,
                            )
                        )
                        per_msg.append([t for r in turn.replies for t in wire[channel](r)])
                    seen.append(per_msg)
                if seen[0] != seen[1]:
                    raise RuntimeError(
                        f"{channel}: the replies to {user_texts(q)} depend on the user"
                    )
                flat = [t for texts in seen[0] for t in texts]
                if len(set(flat)) != len(flat) or any(not texts for texts in seen[0]):
                    raise RuntimeError(
                        f"{channel}: the replies to {user_texts(q)} are not distinct "
                        "or some message gets none; choose other messages"
                    )
                out[channel][q] = seen[0]
    finally:
        await engine.dispose()
    return out


# ---------------------------------------------------------------------- the database, read directly


def read_db(path: Path, query: str) -> list[tuple]:
    """A read on the bot's SQLite file (WAL: readers do not block the bot's writer)."""
    conn = sqlite3.connect(str(path), timeout=10)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def in_flight_rows(path: Path) -> tuple[list[dict], dict[str, int], dict[str, int]]:
    """(outbox rows being sent, outbox status counts, inbox status counts) right now."""
    from bot.channels.telegram import reply_parts
    from bot.channels.zalo import outgoing
    from bot.messages import Reply

    rows = []
    for row_id, channel, recipient, payload, parts_sent, lease in read_db(
        path,
        "SELECT id, channel, recipient, payload, parts_sent, lease_until FROM outbox "
        "WHERE status = 'sending'",
    ):
        reply = Reply.from_dict(
            json.loads(payload) if isinstance(payload, str) else (payload or {})
        )
        parts = (
            [p.caption or p.value for p in reply_parts(reply)]
            if channel == "telegram"
            else [o.value for o in outgoing(reply)]
        )
        text = parts[parts_sent] if parts_sent < len(parts) else ""
        rows.append(
            {
                "id": row_id,
                "lease_until": str(lease),
                "channel": channel,
                "recipient": recipient,
                "text": text,
            }
        )
    outbox_counts = dict(read_db(path, "SELECT status, count(*) FROM outbox GROUP BY status"))
    inbox_counts = dict(read_db(path, "SELECT status, count(*) FROM inbox GROUP BY status"))
    return rows, outbox_counts, inbox_counts


# --------------------------------------------------------------------------- the run


class Run:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.db = tmp / "bot.db"
        self.db_url = f"sqlite+aiosqlite:///{self.db}"
        self.port = free_port()
        self.rng = random.Random(args.seed)
        self.n_tg, self.n_zalo = args.telegram, args.zalo
        self.window = self.n_tg / args.rate if self.n_tg else self.n_zalo / args.rate
        self.zalo_rate = self.n_zalo / self.window if self.n_zalo else 0.0
        self.bot: Any = None
        self.processes = 0
        self.kills: list[dict] = []
        self.offered: dict[tuple[str, str, int], float] = {}  # (channel, user, position) -> when
        self.zalo_posts = 0
        self.zalo_failed_posts: Counter[str] = Counter()
        self.zalo_gave_up = 0
        self.copies_seen: dict[int, int] = {}  # outbox row id -> copies the fake had at a kill
        self.leases_seen: set[tuple[int, str]] = set()  # (outbox row id, lease) in flight at a kill
        self.t0 = 0.0

    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.db_url,
            "TELEGRAM_BOT_TOKEN": self.api.token,
            "TELEGRAM_API_BASE_URL": self.api.base_url,
            "TELEGRAM_RATE_PER_SECOND": "1000",
            "TELEGRAM_RATE_PER_CHAT_SECONDS": "0",
            "ZALO_APP_ID": APP_ID,
            "ZALO_OA_SECRET_KEY": OA_SECRET_KEY,
            "ZALO_APP_SECRET": self.zalo.app_secret,
            "ZALO_ACCESS_TOKEN": self.zalo.access_token,
            "ZALO_REFRESH_TOKEN": self.zalo.refresh_token,
            "ZALO_API_BASE_URL": self.zalo.url,
            "ZALO_OAUTH_BASE_URL": self.zalo.url,
            "ZALO_RATE_PER_SECOND": "1000",
            "LOG_LEVEL": "INFO",
        }

    async def start_bot(self) -> float:
        from tests.processes import BotProcess

        self.processes += 1
        t = time.monotonic()
        self.bot = await BotProcess(
            self.env(), self.tmp / f"bot-{self.processes}.log", port=self.port
        ).start(timeout=60)
        return time.monotonic() - t

    # ---- load

    async def telegram_load(self) -> None:
        loop = asyncio.get_running_loop()
        for i in range(self.n_tg):
            await asyncio.sleep(max(0.0, self.t0 + i / self.args.rate - loop.time()))
            user, pos = divmod(i, PER_USER)
            chat = TELEGRAM_BASE_CHAT + user
            self.api.enqueue(self.api.text_update(chat, user_texts(user)[pos]))
            self.offered[("telegram", str(chat), pos)] = loop.time()

    async def zalo_user_load(
        self, http: aiohttp.ClientSession, user: int, first: int, deadline: float
    ) -> None:
        loop = asyncio.get_running_loop()
        uid = zalo_user(user)
        for pos, text in enumerate(user_texts(user)):
            j = first + pos
            if j >= self.n_zalo:
                return
            await asyncio.sleep(max(0.0, self.t0 + j / self.zalo_rate - loop.time()))
            ev = event("user_send_text", uid, msg_id=f"bench{j:07d}", text=text)
            self.offered[("zalo", uid, pos)] = loop.time()
            url = f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"
            while True:
                self.zalo_posts += 1
                try:
                    status, _ = await post_event(url, ev, session=http)
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    status = type(exc).__name__
                if status == 200:
                    break
                self.zalo_failed_posts[str(status)] += 1
                if loop.time() > deadline:
                    self.zalo_gave_up += 1
                    break
                await asyncio.sleep(ZALO_RETRY)

    async def zalo_load(self) -> None:
        deadline = self.t0 + self.window + 120
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=64)
        ) as http:
            users = (self.n_zalo + PER_USER - 1) // PER_USER
            await asyncio.gather(
                *(self.zalo_user_load(http, u, u * PER_USER, deadline) for u in range(users))
            )

    # ---- kills

    def kill_schedule(self) -> list[float]:
        lo, hi = 0.05 * self.window, 0.95 * self.window
        return sorted(self.rng.uniform(lo, hi) for _ in range(self.args.kills))

    def fake_copies(self, channel: str, recipient: str, text: str) -> int:
        """How many times the fake got this text for this chat (Telegram: answered or not yet)."""
        if channel == "telegram":
            chat = int(recipient)
            return sum(
                1
                for c in self.api.calls
                if c.method.lower() == "sendmessage"
                and c.params.get("chat_id") == chat
                and (c.params.get("text") or c.params.get("caption")) == text
            )
        return sum(1 for s in self.zalo.sent if s.user_id == recipient and s.text == text)

    async def killer(self) -> None:
        loop = asyncio.get_running_loop()
        ready_at = loop.time()
        for n, at in enumerate(self.kill_schedule(), 1):
            await asyncio.sleep(
                max(0.0, self.t0 + at - loop.time(), ready_at + MIN_UPTIME - loop.time())
            )
            killed_at = loop.time()
            unanswered_tg = sum(
                1 for c in self.api.calls if c.method.lower() == "sendmessage" and c.status is None
            )
            await self.bot.kill()
            sending, outbox_counts, inbox_counts = await asyncio.to_thread(in_flight_rows, self.db)
            # A row an earlier killed process was sending stays so until its lease lapses: it was
            # not in flight at this kill unless this process took it again (a new lease).
            rows = [r for r in sending if (r["id"], r["lease_until"]) not in self.leases_seen]
            self.leases_seen.update((r["id"], r["lease_until"]) for r in rows)
            await asyncio.sleep(0.3)  # requests already on the wire are answered (to nobody)
            for row in rows:
                # A row in flight at an earlier kill too (taken again after its lease) reached the
                # fake this time only if the fake has more copies than it had then.
                copies = self.fake_copies(row["channel"], row["recipient"], row["text"])
                row["reached_fake"] = copies > self.copies_seen.get(row["id"], 0)
                self.copies_seen[row["id"]] = copies
            restart_s = await self.start_bot()
            ready_at = loop.time()
            self.kills.append(
                {
                    "n": n,
                    "scheduled_s": round(at, 2),
                    "at_s": round(killed_at - self.t0, 2),
                    "in_flight": rows,
                    "in_flight_count": len(rows),
                    "left_sending_by_an_earlier_kill": len(sending) - len(rows),
                    "in_flight_reached_fake": sum(r["reached_fake"] for r in rows),
                    "telegram_sends_unanswered_by_fake": unanswered_tg,
                    "outbox_at_kill": outbox_counts,
                    "inbox_at_kill": inbox_counts,
                    "down_s": round(ready_at - killed_at, 2),
                    "restart_to_healthy_s": round(restart_s, 2),
                }
            )

    # ---- the end

    def received(self) -> dict[tuple[str, str], list[tuple[str, float]]]:
        """(channel, user) -> the reply texts the fakes got, in order, with when."""
        got: dict[tuple[str, str], list[tuple[str, float]]] = {}
        for c in self.api.sent():
            got.setdefault(("telegram", str(c.params.get("chat_id"))), []).append(
                (c.params.get("text") or c.params.get("caption") or "", c.at)
            )
        for s in self.zalo.sent:
            got.setdefault(("zalo", s.user_id), []).append((s.text, s.at))
        return got

    def users(self) -> list[tuple[str, str, int, int]]:
        """(channel, user id, user number, messages) of every user of the run."""
        out = []
        for channel, n, name in (
            ("telegram", self.n_tg, lambda k: str(TELEGRAM_BASE_CHAT + k)),
            ("zalo", self.n_zalo, zalo_user),
        ):
            for k in range((n + PER_USER - 1) // PER_USER):
                out.append((channel, name(k), k, min(PER_USER, n - k * PER_USER)))
        return out

    def missing(self) -> int:
        got = self.received()
        missing = 0
        for channel, uid, k, count in self.users():
            texts = Counter(t for t, _ in got.get((channel, uid), []))
            for per_msg in self.expected[channel][k % len(QUESTIONS)][:count]:
                missing += sum(1 for t in per_msg if not texts[t])
        return missing

    async def settle(self) -> float:
        """Wait until no reply is missing and nothing is left unfinished; seconds waited."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + self.args.settle_timeout
        while loop.time() < deadline:
            _rows, outbox_counts, inbox_counts = await asyncio.to_thread(in_flight_rows, self.db)
            unfinished = (
                outbox_counts.get("queued", 0)
                + outbox_counts.get("sending", 0)
                + inbox_counts.get("received", 0)
                + inbox_counts.get("processing", 0)
            )
            if not self.api.updates and not unfinished and not self.missing():
                await asyncio.sleep(1.0)  # a straggler would show up by now
                return loop.time() - start
            await asyncio.sleep(0.5)
        return loop.time() - start

    def count(self) -> dict:
        got = self.received()
        explained: Counter[tuple[str, str, str]] = Counter()
        for kill in self.kills:
            for row in kill["in_flight"]:
                if row["reached_fake"]:
                    explained[(row["channel"], row["recipient"], row["text"])] += 1
        per: dict[str, dict] = {}
        for channel in ("telegram", "zalo"):
            per[channel] = {
                "inputs": 0,
                "users": 0,
                "replies_expected": 0,
                "replies_received": 0,
                "lost": 0,
                "answered_twice": 0,
                "duplicate_sends": 0,
                "duplicates_explained_by_in_flight": 0,
                "duplicates_beyond_in_flight": 0,
                "answered_twice_beyond_in_flight": 0,
                "unexpected_replies": 0,
                "users_out_of_order": 0,
                "first_reply_ms": [],
            }
        for channel, uid, k, count in self.users():
            c = per[channel]
            expected = self.expected[channel][k % len(QUESTIONS)][:count]
            arrivals = got.get((channel, uid), [])
            texts = Counter(t for t, _ in arrivals)
            first_at: dict[str, float] = {}
            for t, at in arrivals:
                first_at.setdefault(t, at)
            wanted = {t for per_msg in expected for t in per_msg}
            c["users"] += 1
            c["inputs"] += count
            c["replies_expected"] += len(wanted)
            c["replies_received"] += len(arrivals)
            c["unexpected_replies"] += sum(n for t, n in texts.items() if t not in wanted)
            order = [t for t in sorted(first_at, key=first_at.get) if t in wanted]
            if order != [t for per_msg in expected for t in per_msg if t in first_at]:
                c["users_out_of_order"] += 1
            for pos, per_msg in enumerate(expected):
                if any(not texts[t] for t in per_msg):
                    c["lost"] += 1
                extra = sum(max(0, texts[t] - 1) for t in per_msg)
                beyond = sum(max(0, texts[t] - 1 - explained[(channel, uid, t)]) for t in per_msg)
                c["answered_twice"] += extra > 0
                c["answered_twice_beyond_in_flight"] += beyond > 0
                c["duplicate_sends"] += extra
                c["duplicates_beyond_in_flight"] += beyond
                c["duplicates_explained_by_in_flight"] += extra - beyond
                if per_msg[0] in first_at and (channel, uid, pos) in self.offered:
                    c["first_reply_ms"].append(
                        (first_at[per_msg[0]] - self.offered[(channel, uid, pos)]) * 1000
                    )
        for c in per.values():
            ms = c.pop("first_reply_ms")
            c["first_reply"] = {
                "n": len(ms),
                "p50_ms": percentile(ms, 0.5),
                "p99_ms": percentile(ms, 0.99),
                "max_ms": max(ms) if ms else float("nan"),
            }
        return per

    async def main(self) -> dict:
        from bot.config import load_settings
        from bot.storage.db import upgrade_async

        settings = load_settings(ROOT / "config.yml", env={})
        self.expected = await expected_replies(settings, self.tmp)
        await upgrade_async(self.db_url)
        self.api = await FakeTelegramAPI(max_poll_wait=10.0).start()
        self.zalo = await FakeZaloApi().start()
        latency = self.args.send_latency
        if latency > 0:  # each send takes a platform round trip, so a kill can catch one in flight
            self.api.slow("sendMessage", delay=latency, times=10**9)

            async def zalo_round_trip(_token: str) -> None:
                await asyncio.sleep(latency)

            self.zalo.on_send = zalo_round_trip
        try:
            first_start = await self.start_bot()
            loop = asyncio.get_running_loop()
            self.t0 = loop.time()
            budget = self.window + self.args.kills * 60 + 180
            async with asyncio.timeout(budget):
                await asyncio.gather(self.telegram_load(), self.zalo_load(), self.killer())
                load_s = loop.time() - self.t0
                settle_s = await self.settle()
            exit_code = await self.bot.terminate()
            _rows, outbox_final, inbox_final = await asyncio.to_thread(in_flight_rows, self.db)
            counts = self.count()
        finally:
            with contextlib.suppress(Exception):
                await self.bot.kill()
            await self.api.stop()
            await self.zalo.stop()
        total = {
            k: sum(c[k] for c in counts.values()) for k in counts["telegram"] if k != "first_reply"
        }
        in_flight = sum(k["in_flight_count"] for k in self.kills)
        reached = sum(k["in_flight_reached_fake"] for k in self.kills)
        return {
            "seed": self.args.seed,
            "quick": self.args.quick,
            "send_latency_s": self.args.send_latency,
            "telegram_updates": self.n_tg,
            "zalo_events": self.n_zalo,
            "messages_per_user": PER_USER,
            "offered_rate_telegram": self.args.rate if self.n_tg else 0.0,
            "offered_rate_zalo": self.zalo_rate,
            "load_window_s": self.window,
            "load_s": load_s,
            "settle_s": settle_s,
            "bot_processes": self.processes,
            "first_start_to_healthy_s": first_start,
            "kills": [{k: v for k, v in kill.items() if k != "in_flight"} for kill in self.kills],
            "in_flight_at_kills": in_flight,
            "in_flight_reached_fake": reached,
            "zalo_posts": self.zalo_posts,
            "zalo_failed_posts": dict(self.zalo_failed_posts),
            "zalo_gave_up": self.zalo_gave_up,
            "per_channel": counts,
            "total": total,
            "outbox_final": outbox_final,
            "inbox_final": inbox_final,
            "final_exit_code": exit_code,
            "target_met": total["lost"] == 0 and total["answered_twice_beyond_in_flight"] == 0,
        }


def markdown(r: dict) -> str:
    tg, za, tot = r["per_channel"]["telegram"], r["per_channel"]["zalo"], r["total"]

    def row(label: str, key: str, target: str = "") -> str:
        return f"| {label} | {tg[key]} | {za[key]} | {tot[key]} | {target} |"

    def lat(c: dict) -> str:
        f = c["first_reply"]
        return f"{f['p50_ms']:.0f} / {f['p99_ms']:.0f} / {f['max_ms']:.0f} ms" if f["n"] else "–"

    kills = r["kills"]
    lines = [
        f"{r['telegram_updates']} Telegram updates (polling) at "
        f"{r['offered_rate_telegram']:.0f}/s and "
        f"{r['zalo_events']} Zalo webhook events at {r['offered_rate_zalo']:.0f}/s, together over "
        f"{r['load_window_s']:.0f} s, to one bot process "
        "(`python -m bot run --no-console`, SQLite); "
        f"{r['messages_per_user']} messages per user, one after the other; "
        "the fakes answer each send after "
        f"{r['send_latency_s'] * 1000:.0f} ms, like a platform round trip. The bot was SIGKILLed "
        f"{len(kills)} times at seeded random moments (seed {r['seed']}) "
        "and restarted at once on the same "
        f"database and port ({r['bot_processes']} processes); "
        "Zalo events that failed were posted again "
        f"until they got 200 ({sum(r['zalo_failed_posts'].values())} failed POSTs). "
        "All replies were in "
        f"{r['settle_s']:.0f} s after the load ended.",
        "",
        "| measure | Telegram | Zalo | total | target |",
        "|---|---|---|---|---|",
        row("messages (inputs)", "inputs"),
        f"| replies expected / received | {tg['replies_expected']} / {tg['replies_received']} | "
        f"{za['replies_expected']} / {za['replies_received']} | {tot['replies_expected']} / "
        f"{tot['replies_received']} | |",
        row("lost (an input with a reply the fake never got)", "lost", "0"),
        row("answered twice (an input with a reply sent more than once)", "answered_twice"),
        row("duplicate sends (extra copies of a reply)", "duplicate_sends"),
        row(
            "of which sends in flight at a kill that had reached the fake",
            "duplicates_explained_by_in_flight",
        ),
        row(
            "answered twice beyond the sends in flight at each kill",
            "answered_twice_beyond_in_flight",
            "0",
        ),
        row("users whose replies came out of order", "users_out_of_order", "0"),
        row("unexpected replies", "unexpected_replies", "0"),
        f"| time to first reply p50 / p99 / max | {lat(tg)} | {lat(za)} | | |",
        "",
        "| kill | at | sends in flight (outbox rows being sent) | of which the fake had got "
        "| Telegram sends the fake had not answered | rows still leased by an earlier kill "
        "| outbox queued | inbox unfinished | down (kill to healthy) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k in kills:
        inbox_open = k["inbox_at_kill"].get("received", 0) + k["inbox_at_kill"].get("processing", 0)
        lines.append(
            f"| {k['n']} | {k['at_s']:.1f} s | {k['in_flight_count']} | "
            f"{k['in_flight_reached_fake']} | "
            f"{k['telegram_sends_unanswered_by_fake']} | {k['left_sending_by_an_earlier_kill']} | "
            f"{k['outbox_at_kill'].get('queued', 0)} | {inbox_open} | {k['down_s']:.1f} s |"
        )
    lines.append(
        f"| all | | {r['in_flight_at_kills']} | {r['in_flight_reached_fake']} | "
        f"{sum(k['telegram_sends_unanswered_by_fake'] for k in kills)} | | | | |"
    )
    lines += [
        "",
        f"Target (0 lost, 0 answered twice beyond the sends in flight at each kill): "
        f"{'met' if r['target_met'] else 'NOT met'}; inbox at the end {r['inbox_final']}, outbox "
        f"{r['outbox_final']}, the last process stopped by SIGTERM with exit code "
        f"{r['final_exit_code']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="300 Telegram updates + 150 Zalo events"
    )
    parser.add_argument(
        "--telegram", type=int, default=None, help="Telegram updates (default 2000)"
    )
    parser.add_argument("--zalo", type=int, default=None, help="Zalo events (default 1000)")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="Telegram updates offered per second"
    )
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--send-latency",
        type=float,
        default=0.05,
        help="seconds each fake takes to answer a send, like a real API round trip (on "
        "loopback it is about 1 ms, and a kill would almost never catch a send in flight)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=120.0,
        help="seconds to wait after the load for the last replies (a send in flight at a "
        "kill is retried when its 30 s lease lapses)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (database, bot logs)"
    )
    args = parser.parse_args(argv)
    if args.telegram is None:
        args.telegram = 300 if args.quick else 2000
    if args.zalo is None:
        args.zalo = 150 if args.quick else 1000
    # The fakes log a request cut off by a kill (the bot died while sending its body): expected
    # here.

    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    tmp = Path(tempfile.mkdtemp(prefix="bench-durability-"))
    try:
        result = asyncio.run(Run(args, tmp).main())
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    result["markdown"] = markdown(result)
    return result


if __name__ == "__main__":
    r = main()
    print(r["markdown"])
    print(json.dumps({k: v for k, v in r.items() if k != "markdown"}, indent=1, ensure_ascii=False))
