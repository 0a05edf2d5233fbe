"""Load: 1,000 simulated users on the Telegram webhook, the Zalo webhook and the web chat of a real
bot process, on SQLite and on PostgreSQL; latency, errors, RSS, and saturation throughput against
`pipeline.handle` alone.

Three processes on loopback:

- the bot: `python -m bot run --no-console` (tests/processes.py), Telegram in webhook mode, Zalo,
  the web chat; on a SQLite file, or on a throw-away PostgreSQL server (tests/postgres.py);
- the load process (`benchmarks/loadgen.py`): the users, one aiohttp session with a fixed
  connection limit, and the fake Telegram and Zalo APIs (tests/fakes/) the bot sends its replies
  to, which stamp each reply's arrival;
- this one: plans the messages, finds each message's expected replies, measures
  `pipeline.handle` alone, starts the other two and samples the bot's RSS and CPU (psutil).

Users are split evenly over the three channels. Their messages are Vietnamese questions taken from
the content items' `questions` and the NLU training data (nlu/data), with and without diacritics;
one user in four goes through the consent flow (`/subscribe`, `/consent yes`, a question,
`/stop`). Two phases, on separate users:

1. open loop, the realistic rate: every user one message every 10 s from a random offset
   (1,000 users: 100 messages/s offered) for 60 s. Each message has a scheduled send time and its
   latency is measured from that time (no coordinated omission): for a webhook, until its first
   reply reaches the fake API; for the web chat, until the HTTP response.
2. closed loop, saturation: every user sends its next message as soon as the previous one is
   answered (all its replies), no think time, for 60 s, with at most `--in-flight` (64) messages
   outstanding at once (users take turns: enough to keep the bot busy; all 1,000 at once only
   queue, adding latency and client timeouts, not throughput); throughput counts the messages
   answered over the last 80% of the phase (the first seconds are the start-up burst).

Each message's expected replies (count and texts on the wire) come from the same pipeline in this
process, on a scratch database of the same kind, two users per script (the replies must not
depend on the user). Timing that run gives `pipeline.handle` alone on the same messages (all the
scripts' users at once, each user's messages in order): the saturation throughput is reported as a
share of it. It is measured before the bot starts and again between the two phases, the bot
idle; the faster of the two is the baseline.

The bot's sending rate limits and the per-user flood limit are lifted (they would measure the
limits, not the bot); everything else is as configured in config.yml (INFO logs included).

Targets (issue 8): at 100 messages/s offered, p99 < 300 ms and no errors; at saturation, at least
80% of `pipeline.handle` alone; RSS < 150 MB.

Run: `python -m benchmarks.bench_load [--quick] [--databases sqlite,postgresql] [--users N]
[--duration S] [--saturation-duration S] [--limit N]`; `--quick`: 200 users, 10 s per phase, one
message every 2 s each (still 100/s offered). Prints a markdown table, then a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from benchmarks.stats import free_port, percentile

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
SEED = 1719
SCRIPTS = 12  # distinct message sequences per phase; users take them in turn
SATURATION_MESSAGES = 40  # per user in the closed loop (users stop when they run out)
POOL_INTENTS = {
    "greet",
    "thank",
    "goodbye",
    "help",
    "human",
    "out_of_scope",
    "ask_policy",
    "ask_product",
    "ask_training",
}
CONSENT = ["/subscribe", "/consent yes"]
TARGET_P99_MS = 300.0
TARGET_RATIO = 0.8
TARGET_RSS_MB = 150.0


# --------------------------------------------------------------------------- the messages


def question_pool() -> list[str]:
    """Questions from the content items and the NLU training data (never from the eval set)."""
    pool: list[str] = []
    for path in sorted((ROOT / "content" / "items").glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("items") or []:
            pool.extend(q for q in item.get("questions") or [] if isinstance(q, str))
    for path in sorted((ROOT / "nlu" / "data").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if block.get("intent") in POOL_INTENTS:
                pool.extend(
                    line.strip()[2:].strip()
                    for line in str(block.get("examples") or "").splitlines()
                    if line.strip().startswith("- ")
                )
    seen: set[str] = set()
    out = []
    for q in pool:
        q = q.strip()
        if q and not q.startswith("/") and not q.isdigit() and q not in seen:
            seen.add(q)
            out.append(q)
    return out


def scripts(rng: random.Random, pool: list[str], n: int, length: int, consent: bool) -> list:
    """`n` message sequences of `length`; with `consent`, one in four goes through the consent
    flow (subscribe, consent, a question, stop) after its first question."""
    out = []
    for i in range(n):
        msgs = [rng.choice(pool) for _ in range(length)]
        if consent and i % 4 == 0 and length >= 5:
            msgs[1:5] = [*CONSENT, rng.choice(pool), "/stop"]
        elif i % 3 == 1 and length >= 4:
            msgs[3] = "/help"
        out.append(msgs)
    return out


def make_plan(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    pool = question_pool()
    per_user = math.ceil(args.duration / args.interval) + 1
    return {
        "seed": args.seed,
        "limit": args.limit,
        "pool_size": len(pool),
        "phases": {
            "open": {
                "users": args.users,
                "interval": args.interval,
                "duration": args.duration,
                "settle": args.settle,
                "scripts": scripts(rng, pool, SCRIPTS, per_user, consent=True),
                "base_chat": 7_100_000_000,
                "base_zalo": "81",
            },
            "closed": {
                "users": args.users,
                "duration": args.saturation_duration,
                "settle": args.settle,
                "warmup_fraction": 0.2,
                "in_flight": args.in_flight,
                "scripts": scripts(rng, pool, SCRIPTS, SATURATION_MESSAGES, consent=False),
                "base_chat": 7_200_000_000,
                "base_zalo": "82",
            },
        },
    }


# --------------------------------------------------------------------------- in process


def wire(channel: str):
    """What a reply becomes on the channel: one entry per send, its text (None: not a text)."""
    from bot.channels.telegram import reply_parts
    from bot.channels.zalo import outgoing

    if channel == "telegram":
        return lambda r: [p.caption if p.kind != "text" else p.value for p in reply_parts(r)]
    if channel == "zalo":
        return lambda r: [o.value if o.kind == "text" else None for o in outgoing(r)]
    return lambda r: [r.text]


async def through_pipeline(pipeline: Any, phase: str, p: dict, tag: str) -> tuple[dict, list]:
    """A phase's scripts through `pipeline.handle`, two users per (channel, script), all users at
    once, each user's messages in order: (wire replies per user, handle times in ms, wall s)."""
    from benchmarks.loadgen import CHANNELS
    from bot.messages import IncomingMessage

    got: dict[tuple[str, int, int], list] = {}
    handle_ms: list[float] = []

    async def user(channel: str, s: int, copy: int) -> None:
        to_wire = wire(channel)
        sender = f"ref{tag}{phase}{s}x{copy}"
        per_msg = []
        for k, text in enumerate(p["scripts"][s]):
            msg = IncomingMessage(
                channel=channel, sender_id=sender, message_id=f"{sender}m{k}", text=text
            )
            t = time.perf_counter()
            turn = await pipeline.handle(msg)
            handle_ms.append((time.perf_counter() - t) * 1000)
            per_msg.append([x for r in turn.replies for x in to_wire(r)])
        got[(channel, s, copy)] = per_msg

    t0 = time.perf_counter()
    await asyncio.gather(
        *(user(ch, s, c) for ch in CHANNELS for s in range(len(p["scripts"])) for c in (0, 1))
    )
    return got, [handle_ms, time.perf_counter() - t0]


async def in_process(db_url: str, plan: dict, tag: str, expect: bool) -> dict:
    """Every script of both phases through `build_pipeline` on `db_url` (`through_pipeline`).
    Fills the plan's expected replies when `expect`; returns messages/s per phase."""
    from benchmarks.loadgen import CHANNELS
    from bot.app import build_pipeline, build_services
    from bot.config import load_settings
    from bot.outbox.sender import RetryPolicy

    settings = load_settings(ROOT / "config.yml", env={})
    settings = type(settings)(
        **{**settings.__dict__, "limits": type(settings.limits)(flood_messages=10**9)}
    )
    services, engine = await asyncio.to_thread(build_services, settings, db_url)
    pipeline = build_pipeline(services)
    # As the inbound worker sets it in the bot: replies written already taken for sending.
    pipeline.reply_lease = RetryPolicy().lease
    out: dict[str, Any] = {}
    try:
        for phase, p in plan["phases"].items():
            cpu = time.process_time()  # this process's CPU, the database driver's thread included
            got, (handle_ms, wall) = await through_pipeline(pipeline, phase, p, tag)
            cpu = time.process_time() - cpu
            out[phase] = {
                "messages": len(handle_ms),
                "per_s": len(handle_ms) / wall,
                "cpu_ms_per_message": cpu * 1000 / len(handle_ms),
                "handle_p50_ms": percentile(handle_ms, 0.5),
                "handle_p99_ms": percentile(handle_ms, 0.99),
            }
            if not expect:
                continue
            expected: dict[str, list] = {}
            for ch in CHANNELS:
                expected[ch] = []
                for s in range(len(p["scripts"])):
                    a, b = got[(ch, s, 0)], got[(ch, s, 1)]
                    if a != b:
                        raise RuntimeError(f"{ch}: the replies to script {s} depend on the user")
                    if any(not per_msg for per_msg in a):
                        raise RuntimeError(f"{ch}: a message of script {s} gets no reply")
                    expected[ch].append(a)
            p["expected"] = expected
    finally:
        await engine.dispose()
    return out


# --------------------------------------------------------------------------- the processes


class Sampler:
    """RSS and CPU of a process, every `every` seconds, stamped with time.monotonic()."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.proc = psutil.Process(pid)
        self.every = every
        self.samples: list[tuple[float, int, float]] = []  # (monotonic, rss, cpu seconds)
        self.task: asyncio.Task | None = None

    def take(self) -> None:
        with contextlib.suppress(psutil.Error):
            cpu = self.proc.cpu_times()
            self.samples.append(
                (time.monotonic(), self.proc.memory_info().rss, cpu.user + cpu.system)
            )

    async def run(self) -> None:
        while True:
            self.take()
            await asyncio.sleep(self.every)

    def start(self) -> Sampler:
        self.take()
        self.task = asyncio.create_task(self.run())
        return self

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def between(self, t0: float, t1: float) -> dict:
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return {"peak_rss_mb": float("nan"), "cpu_s": float("nan"), "cpu_share": float("nan")}
        return {
            "peak_rss_mb": max(s[1] for s in inside) / 2**20,
            "cpu_s": inside[-1][2] - inside[0][2],
            "cpu_share": (inside[-1][2] - inside[0][2]) / (inside[-1][0] - inside[0][0]),
        }


class LoadProcess:
    """benchmarks/loadgen.py as a child process, driven by JSON lines."""

    def __init__(self, plan_path: Path, bot_port: int, log: Path) -> None:
        self.plan_path, self.bot_port, self.log = plan_path, bot_port, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> dict:
        err = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            "--plan",
            str(self.plan_path),
            "--bot-port",
            str(self.bot_port),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            limit=2**24,
        )
        err.close()
        return (await self.read(60))["ready"]

    async def read(self, timeout: float) -> dict:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the load process ended:\n{tail}")
        return json.loads(line)

    async def phase(self, name: str, timeout: float) -> dict:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"phase": name}) + "\n").encode())
        await self.proc.stdin.drain()
        return (await self.read(timeout))["result"]

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write(b'{"quit": true}\n')
            await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def bot_env(ready: dict, db_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "TELEGRAM_BOT_TOKEN": ready["telegram_token"],
        "TELEGRAM_API_BASE_URL": ready["telegram_api_base_url"],
        "TELEGRAM_WEBHOOK_URL": ready["telegram_webhook_url"],
        "TELEGRAM_WEBHOOK_SECRET": ready["telegram_webhook_secret"],
        "TELEGRAM_RATE_PER_SECOND": "100000",
        "TELEGRAM_RATE_PER_CHAT_SECONDS": "0",
        "ZALO_APP_ID": ready["zalo_app_id"],
        "ZALO_OA_SECRET_KEY": ready["zalo_oa_secret_key"],
        "ZALO_APP_SECRET": ready["zalo_app_secret"],
        "ZALO_ACCESS_TOKEN": ready["zalo_access_token"],
        "ZALO_REFRESH_TOKEN": ready["zalo_refresh_token"],
        "ZALO_API_BASE_URL": ready["zalo_api_url"],
        "ZALO_OAUTH_BASE_URL": ready["zalo_api_url"],
        "ZALO_RATE_PER_SECOND": "100000",
        "FLOOD_MESSAGES": "1000000",
        "FLOOD_ADDRESS_MESSAGES": "1000000000",  # every web user comes from 127.0.0.1
        "LOG_LEVEL": "INFO",
    }


async def run_database(name: str, bot_url: str, ref_url: str, args: argparse.Namespace) -> dict:
    from bot.storage.db import upgrade_async
    from tests.processes import BotProcess

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-load-{name}-"))
    plan = make_plan(args)
    await upgrade_async(ref_url)
    alone = [await in_process(ref_url, plan, "a", expect=True)]
    plan_path = tmp / "plan.json"
    plan_path.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
    await upgrade_async(bot_url)
    port = free_port()
    load = LoadProcess(plan_path, port, tmp / "loadgen.log")
    bot = None
    samplers: list[Sampler] = []
    try:
        ready = await load.start()
        bot = await BotProcess(bot_env(ready, bot_url), tmp / "bot.log", port=port).start(60)
        assert bot.proc is not None and load.proc is not None
        bot_s, load_s = Sampler(bot.proc.pid).start(), Sampler(load.proc.pid).start()
        samplers = [bot_s, load_s]
        await asyncio.sleep(1.0)
        idle_rss = bot_s.samples[-1][1] / 2**20
        phases = {}
        for phase in ("open", "closed"):
            p = plan["phases"][phase]
            result = await load.phase(phase, p["duration"] + p["settle"] + 120)
            t0, t1 = result["t0_monotonic"], result["t_end_monotonic"]
            result["bot"] = bot_s.between(t0, t1)
            result["bot"]["cpu_ms_per_message"] = (
                result["bot"]["cpu_s"] * 1000 / max(1, result["answered"])
            )
            result["load_process"] = load_s.between(t0, t1)
            phases[phase] = result
            if phase == "open":  # the bot idle: pipeline.handle alone again
                alone.append(await in_process(ref_url, plan, "b", expect=False))
        exit_code = await bot.terminate()
    finally:
        for s in samplers:
            await s.stop()
        await load.stop()
        if bot is not None:
            await bot.kill()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    best = max(a["closed"]["per_s"] for a in alone)
    alone_cpu = min(a["closed"]["cpu_ms_per_message"] for a in alone)
    sat = phases["closed"]["throughput_per_s"]
    peak_rss = max(bot_s.between(0, float("inf"))["peak_rss_mb"], idle_rss)
    op = phases["open"]
    return {
        "database": name,
        "users": args.users,
        "connection_limit": args.limit,
        "question_pool": plan["pool_size"],
        "idle_rss_mb": idle_rss,
        "peak_rss_mb": peak_rss,
        "open": op,
        "closed": phases["closed"],
        "pipeline_alone": alone,
        "pipeline_alone_per_s": best,
        "saturation_ratio": sat / best,
        "pipeline_alone_cpu_ms_per_message": alone_cpu,
        # The same comparison in CPU time, which other work on the machine does not distort:
        # messages per CPU-second of the bot at saturation, over those of pipeline.handle alone.
        "cpu_ratio": alone_cpu / phases["closed"]["bot"]["cpu_ms_per_message"],
        "bot_exit_code": exit_code,
        "targets": {
            "open_p99": op["latency"]["p99_ms"] < TARGET_P99_MS,
            "open_errors": op["errors"] == 0 and op["wrong_replies"] == 0,
            "saturation_ratio": sat / best >= TARGET_RATIO,
            "rss": peak_rss < TARGET_RSS_MB,
        },
    }


def run_sqlite(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-load-db-") as d:
        return asyncio.run(
            run_database(
                "sqlite", f"sqlite+aiosqlite:///{d}/bot.db", f"sqlite+aiosqlite:///{d}/ref.db", args
            )
        )


def run_postgres(args: argparse.Namespace) -> dict:
    from tests.postgres import PostgresServer, drop_database, fresh_database

    server = PostgresServer().start()
    try:
        bot_url, ref_url = fresh_database(server.url()), fresh_database(server.url())
        try:
            return asyncio.run(run_database("postgresql", bot_url, ref_url, args))
        finally:
            drop_database(bot_url)
            drop_database(ref_url)
    finally:
        server.stop()


# --------------------------------------------------------------------------- report


def markdown(results: dict[str, dict], args: argparse.Namespace) -> str:
    dbs = list(results.values())
    head = "| measure | " + " | ".join(r["database"] for r in dbs) + " | target |"
    rows = [head, "|---" * (len(dbs) + 2) + "|"]

    def row(label: str, fn, target: str = "") -> None:
        cells = []
        for r in dbs:
            try:
                cells.append(fn(r))
            except (KeyError, TypeError, ValueError):
                cells.append("–")
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    def lat(d: dict) -> str:
        return f"{d['p50_ms']:.0f} / {d['p99_ms']:.0f} ms" if d["n"] else "–"

    def ok(flag: bool) -> str:
        return "" if flag else " **(missed)**"

    row(
        "open loop: messages offered (per s)",
        lambda r: f"{r['open']['messages']} ({r['open']['offered_per_s']:.0f}/s)",
    )
    row(
        "open loop: latency p50 / p99, all channels",
        lambda r: lat(r["open"]["latency"]) + ok(r["targets"]["open_p99"]),
        f"p99 < {TARGET_P99_MS:.0f} ms",
    )
    for ch, label in (("telegram", "Telegram webhook"), ("zalo", "Zalo webhook"), ("web", "web")):
        row(
            f"open loop: {label} p50 / p99",
            lambda r, ch=ch: lat(r["open"]["per_channel"][ch]["latency"]),
        )
    row(
        "open loop: webhooks, time to 200 p50 / p99",
        lambda r: " · ".join(
            lat(r["open"]["per_channel"][ch]["time_to_200"]) for ch in ("telegram", "zalo")
        ),
    )
    row(
        "open loop: errors (rate) / wrong replies",
        lambda r: (
            f"{r['open']['errors']} ({r['open']['error_rate']:.2%}) / "
            f"{r['open']['wrong_replies']}" + ok(r["targets"]["open_errors"])
        ),
        "0",
    )
    row(
        "open loop: load process late to send, p99",
        lambda r: f"{r['open']['lag']['p99_ms']:.1f} ms",
    )
    row(
        "saturation: messages/s answered (closed loop)",
        lambda r: f"{r['closed']['throughput_per_s']:.0f}",
    )
    row(
        "`pipeline.handle` alone, same messages (per s)",
        lambda r: f"{r['pipeline_alone_per_s']:.0f}",
    )
    row(
        "saturation / `pipeline.handle` alone",
        lambda r: f"{r['saturation_ratio']:.0%}" + ok(r["targets"]["saturation_ratio"]),
        f"≥ {TARGET_RATIO:.0%}",
    )
    row(
        "CPU per message: bot at saturation / `pipeline.handle` alone",
        lambda r: (
            f"{r['closed']['bot']['cpu_ms_per_message']:.1f} / "
            f"{r['pipeline_alone_cpu_ms_per_message']:.1f} ms ({r['cpu_ratio']:.0%})"
        ),
    )
    row("saturation: latency p50 / p99", lambda r: lat(r["closed"]["latency"]))
    row(
        "saturation: errors / wrong replies",
        lambda r: f"{r['closed']['errors']} / {r['closed']['wrong_replies']}",
    )
    row(
        "bot CPU (share of one core): open / saturation",
        lambda r: f"{r['open']['bot']['cpu_share']:.0%} / {r['closed']['bot']['cpu_share']:.0%}",
    )
    row(
        "load process CPU: open / saturation",
        lambda r: (
            f"{r['open']['load_process']['cpu_share']:.0%} / "
            f"{r['closed']['load_process']['cpu_share']:.0%}"
        ),
    )
    row(
        "bot RSS: idle / peak open loop / peak saturation",
        lambda r: (
            f"{r['idle_rss_mb']:.0f} / {r['open']['bot']['peak_rss_mb']:.0f} / "
            f"{r['closed']['bot']['peak_rss_mb']:.0f} MB" + ok(r["targets"]["rss"])
        ),
        f"< {TARGET_RSS_MB:.0f} MB",
    )
    first = dbs[0]
    intro = (
        f"{first['users']} simulated users, a third each on the Telegram webhook, the Zalo "
        f"webhook and the web chat, from a separate load process (one aiohttp session, "
        f"{first['connection_limit']} connections at most) to a real bot process, on loopback. "
        f"Open loop: each user one message every {args.interval:g} s for {args.duration:g} s, "
        "latency from the scheduled send time to the first reply at the fake API (webhooks) or "
        f"the HTTP response (web chat). Saturation: closed loop for {args.saturation_duration:g} "
        f"s, no think time, {args.in_flight} messages outstanding at once, throughput over its "
        "last 80%. Questions from the content items and "
        f"nlu/data ({first['question_pool']} distinct), one user in four through the consent "
        "flow. Sending rate limits and the flood limit lifted. The CPU is shared (2 cores; other "
        "work ran meanwhile), so the figures are noisy."
    )
    notes = (
        "Latency and throughput depend on how much CPU the bot got; on a shared machine the CPU "
        "row is the steadier comparison: CPU seconds the bot spent per message answered at "
        "saturation against those of `pipeline.handle` alone on the same messages (the share is "
        "what the throughput ratio would be with a core to itself). What the bot does beyond "
        "`pipeline.handle` per message: the webhook's transaction recording the message "
        "before its 200 (`inbox.record_batch`, shared by the requests that wait for the write "
        "together), the send (an HTTP call to the platform) and a transaction marking the reply "
        "sent (`outbox.mark_sent_many`, shared by the sends that finish together); the web "
        'chat\'s HTTP request and its "sent" mark (shared likewise).'
    )
    return intro + "\n\n" + "\n".join(rows) + "\n\n" + notes


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 users, 10 s phases, for trying")
    parser.add_argument("--users", type=int, default=None, help="simulated users (1000)")
    parser.add_argument("--interval", type=float, default=None, help="s between a user's messages")
    parser.add_argument("--duration", type=float, default=None, help="open-loop seconds (60)")
    parser.add_argument("--saturation-duration", type=float, default=None, help="seconds (60)")
    parser.add_argument("--settle", type=float, default=30.0, help="s to wait for last replies")
    parser.add_argument("--limit", type=int, default=128, help="the load process's connections")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=64,
        help="saturation: messages outstanding at once (users take turns)",
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep", action="store_true", help="keep the logs and the plan")
    args = parser.parse_args(argv)
    quick = args.quick
    args.users = args.users or (200 if quick else 1000)
    args.interval = args.interval or (args.users / 100.0)  # 100 messages/s offered
    args.duration = args.duration or (10.0 if quick else 60.0)
    args.saturation_duration = args.saturation_duration or (10.0 if quick else 60.0)
    results: dict[str, dict] = {}
    for name in args.databases.split(","):
        if name == "sqlite":
            results["sqlite"] = run_sqlite(args)
        elif name == "postgresql":
            results["postgresql"] = run_postgres(args)
        else:
            parser.error(f"--databases: unknown database {name!r}")
    out: dict[str, Any] = dict(results)
    out["quick"] = quick
    out["markdown"] = markdown(results, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "bench_load_quick.json" if quick else "bench_load.json"
    (RESULTS / name).write_text(
        json.dumps({k: v for k, v in out.items() if k != "markdown"}, indent=1), encoding="utf-8"
    )
    return out


if __name__ == "__main__":
    r = main()
    print(r["markdown"])
    print(json.dumps({k: v for k, v in r.items() if k != "markdown"}, indent=1))
