"""The load process of `benchmarks.bench_load`: simulated users on the Telegram webhook, the Zalo
webhook and the web chat, and the fake Telegram and Zalo APIs the bot replies to.

It runs as its own process (`python -m benchmarks.loadgen --plan PLAN --bot-port PORT`), so the
load it makes never shares an event loop with the bot it measures; it plays the outside world: the
users, and the platforms (tests/fakes/) that deliver their messages and receive the bot's replies.
All its requests go through one aiohttp session with a fixed connection limit (`plan["limit"]`).

Two ways to offer load (a phase each, on separate users):

- open loop (`open_loop`): every message has a scheduled send time (each user one message every
  `interval` seconds, from a random offset), sent on time whatever happened to the earlier ones.
  Latency is measured from the *scheduled* time, so when the bot (or this process) falls behind,
  the queueing shows in the figures instead of silently delaying the next sends (coordinated
  omission). How late this process itself sent (`lag`) is reported beside it.
- closed loop (`closed_loop`): every user sends its next message as soon as the previous one was
  answered, with no think time, until the phase ends, at most `in_flight` messages outstanding
  at once: the bot's saturation throughput.

A message is answered when its first reply reaches the fake API (webhooks; the fakes record when
each request arrived) or when the web chat's HTTP response arrives. Replies are matched to
messages by count: one user's messages are handled in order, and `bench_load` found beforehand,
with the same pipeline in process, how many sends (and which texts) each message gives, so the
n-th reply a chat gets belongs to a known message. A message is an error when its request failed
(a status other than 200, a connection error, a timeout), when its replies never came before the
phase's settle timeout, or when they were not the expected texts. (After a failed request whose
message the bot handled anyway, e.g. a client timeout, that user's later replies are matched one
off: wrong replies mean something only when there are no errors.)

Protocol (JSON lines): prints `{"ready": {...}}` (the fakes' URLs and tokens) once the fakes
listen; then reads commands on stdin, `{"phase": "open"}` or `{"phase": "closed"}`, answering
each with `{"result": {...}}`; `{"quit": true}` ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import itertools
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.stats import percentile  # noqa: E402

TELEGRAM_SECRET = "loadbench-secret-0123456789abcdef"
TELEGRAM_PATH = "/telegram/webhook"
# The public URL the bot is configured with (Telegram calls only HTTPS; a TLS proxy in front
# forwards the path unchanged to the bot's plain HTTP port, which is what this process calls).
TELEGRAM_PUBLIC_URL = "https://bot.load.invalid" + TELEGRAM_PATH
ZALO_PATH = "/zalo/webhook"
WEB_PATH = "/api/messages"
TELEGRAM_SENDS = ("sendmessage", "sendphoto", "sendvoice", "senddocument")
CHANNELS = ("telegram", "zalo", "web")


# --------------------------------------------------------------------------- statistics


def summary(latencies_s: Sequence[float]) -> dict[str, float | int]:
    """n, p50, p99 and max of latencies given in seconds, in milliseconds."""
    ms = [x * 1000 for x in latencies_s]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 0.5),
        "p99_ms": percentile(ms, 0.99),
        "max_ms": max(ms) if ms else float("nan"),
    }


@dataclass
class Sample:
    """One message: when it was due, when it went out, when it was answered (None: never)."""

    channel: str
    user: int
    k: int  # the user's k-th message
    scheduled: float  # loop time it was due (open loop) or sent (closed loop)
    started: float = float("nan")
    acked: float | None = None  # webhooks: the 200
    done: float | None = None  # the first reply (webhooks) or the HTTP response (web chat)
    error: str | None = None

    @property
    def latency(self) -> float | None:
        """From the scheduled time: queueing before the send counts (no coordinated omission)."""
        return None if self.done is None or self.error else self.done - self.scheduled


def open_schedule(
    users: int, interval: float, duration: float, rng: random.Random
) -> list[tuple[float, int, int]]:
    """(due time from the start, user, k), sorted: each user one message every `interval` s from
    a random offset in [0, interval), until `duration`. The offered rate is users / interval."""
    out = []
    for u in range(users):
        t = rng.uniform(0, interval)
        k = 0
        while t < duration:
            out.append((t, u, k))
            t += interval
            k += 1
    out.sort()
    return out


def phase_stats(samples: Sequence[Sample], window: tuple[float, float] | None = None) -> dict:
    """Latency, errors and throughput of a phase's samples (all channels, then per channel).

    `window` (loop times): throughput counts the messages answered inside it, over its length.
    """

    def one(ss: Sequence[Sample]) -> dict:
        lat = [s.latency for s in ss if s.latency is not None]
        errors: dict[str, int] = {}
        for s in ss:
            if s.error or s.done is None:
                key = s.error or "no reply"
                errors[key] = errors.get(key, 0) + 1
        lag = [s.started - s.scheduled for s in ss if s.started == s.started]
        acks = [s.acked - s.scheduled for s in ss if s.acked is not None]
        out: dict[str, Any] = {
            "messages": len(ss),
            "answered": len(lat),
            "errors": sum(errors.values()),
            "error_rate": sum(errors.values()) / len(ss) if ss else 0.0,
            "error_kinds": errors,
            "latency": summary(lat),
            "lag": summary(lag),
        }
        if acks:
            out["time_to_200"] = summary(acks)
        if window is not None:
            lo, hi = window
            n = sum(1 for s in ss if s.latency is not None and lo <= s.done <= hi)  # type: ignore[operator]
            out["throughput_per_s"] = n / (hi - lo) if hi > lo else float("nan")
        return out

    result = one(samples)
    result["per_channel"] = {
        ch: one([s for s in samples if s.channel == ch])
        for ch in CHANNELS
        if any(s.channel == ch for s in samples)
    }
    return result


# --------------------------------------------------------------------------- ways to offer load

Send = Callable[[Sample], Awaitable[None]]


async def open_loop(
    schedule: Sequence[tuple[float, int, int]],
    make: Callable[[int, int, float], Sample],
    send: Send,
    settle: float,
) -> list[Sample]:
    """Send each message at its due time, each in its own task (a slow answer delays nothing);
    then wait up to `settle` seconds for the last answers. `send` fills `started`, `done`,
    `error` of the sample it is given."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    samples: list[Sample] = []
    tasks: set[asyncio.Task] = set()
    for due, user, k in schedule:
        delay = t0 + due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sample = make(user, k, t0 + due)
        samples.append(sample)
        tasks.add(asyncio.ensure_future(_guarded(send, sample)))
    await _settle(tasks, settle)
    return samples


async def closed_loop(
    users: Sequence[int],
    messages: Callable[[int], int],
    make: Callable[[int, int, float], Sample],
    send: Send,
    duration: float,
    settle: float,
    in_flight: int | None = None,
) -> tuple[list[Sample], float]:
    """Each user sends its next message once the previous one is answered, until `duration`
    (or its `messages(user)` run out); a user whose message failed stops. With `in_flight`, at
    most that many messages are outstanding at once (users queue for a turn, first come first
    served): enough to keep the bot busy, without a queue of every user's message whose wait
    would only add latency (and client timeouts), not throughput. Returns the samples and the
    start time."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    end = t0 + duration
    samples: list[Sample] = []
    slots = asyncio.Semaphore(in_flight) if in_flight else contextlib.nullcontext()

    async def user_loop(user: int) -> None:
        for k in range(messages(user)):
            async with slots:
                now = loop.time()
                if now >= end:
                    return
                sample = make(user, k, now)
                samples.append(sample)
                await _guarded(send, sample)
            if sample.error or sample.done is None:
                return

    tasks = {asyncio.ensure_future(user_loop(u)) for u in users}
    await _settle(tasks, duration + settle)
    return samples, t0


async def _guarded(send: Send, sample: Sample) -> None:
    try:
        await send(sample)
    except asyncio.CancelledError:
        sample.error = sample.error or "no reply before the settle timeout"
        raise
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        sample.error = type(exc).__name__


async def _settle(tasks: set[asyncio.Task], timeout: float) -> None:
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=max(0.0, timeout))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


# --------------------------------------------------------------------------- replies by count


class Replies:
    """The replies each chat got, in order, and waits for the n-th one."""

    def __init__(self) -> None:
        self.got: dict[str, list[tuple[float, str | None]]] = {}
        self._waiters: dict[str, list[tuple[int, asyncio.Future]]] = {}

    def add(self, chat: str, at: float, text: str | None) -> None:
        got = self.got.setdefault(chat, [])
        got.append((at, text))
        waiters = self._waiters.get(chat)
        if waiters:
            keep = []
            for n, fut in waiters:
                if len(got) >= n:
                    if not fut.done():
                        fut.set_result(got[n - 1][0])
                else:
                    keep.append((n, fut))
            self._waiters[chat] = keep

    async def nth(self, chat: str, n: int) -> float:
        """When the chat's n-th reply (1-based) arrived, once it has."""
        got = self.got.get(chat, [])
        if len(got) >= n:
            return got[n - 1][0]
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(chat, []).append((n, fut))
        return await fut


def cumulative(counts: Sequence[int]) -> list[int]:
    """[0, c0, c0+c1, ...]: message k's replies are the chat's replies cum[k] .. cum[k+1]-1."""
    return [0, *itertools.accumulate(counts)]


def wrong_texts(got: Sequence[str | None], expected: Sequence[str | None]) -> int:
    """Replies whose text is not the expected one (None on either side: not compared; extra
    replies count, missing ones are counted as unanswered messages instead)."""
    wrong = sum(
        1 for g, e in zip(got, expected, strict=False) if g is not None and e is not None and g != e
    )
    return wrong + max(0, len(got) - len(expected))


# --------------------------------------------------------------------------- the load process


class Load:
    def __init__(self, plan: dict, bot_port: int) -> None:
        self.plan = plan
        self.bot = f"http://127.0.0.1:{bot_port}"
        self.replies = Replies()
        self.update_ids = itertools.count(1)
        self.zalo_ids = itertools.count(1)
        self.cookies: dict[str, str] = {}
        self.web_bad = 0
        self.wrong_examples: list[dict] = []

    # ---- the fakes

    async def start(self) -> dict:
        from tests.fakes.telegram_api import FakeTelegramAPI
        from tests.fakes.zalo_api import APP_ID, OA_SECRET_KEY, FakeZaloApi, event

        replies, loop = self.replies, asyncio.get_running_loop()
        mono_to_loop = loop.time() - time.monotonic()  # the fakes stamp with time.monotonic()

        self.telegram = await FakeTelegramAPI(max_poll_wait=1.0).start()

        def on_telegram(call: Any) -> None:
            if call.status == 200 and call.method.lower() in TELEGRAM_SENDS:
                text = call.params.get("text") or call.params.get("caption")
                replies.add(f"t{call.params.get('chat_id')}", call.at + mono_to_loop, text)

        self.telegram.listeners.append(on_telegram)
        self.telegram.webhook = {
            "url": TELEGRAM_PUBLIC_URL,
            "secret_token": TELEGRAM_SECRET,
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }

        class Zalo(FakeZaloApi):
            async def _send(self, request):  # type: ignore[no-untyped-def]
                before = len(self.sent)
                response = await super()._send(request)
                for s in self.sent[before:]:
                    replies.add(f"z{s.user_id}", s.at + mono_to_loop, s.text)
                return response

        self.zalo = await Zalo().start()
        self.zalo_template = event("user_send_text", "0", msg_id="x", text="x")
        self.zalo_app_id, self.zalo_key = APP_ID, OA_SECRET_KEY
        return {
            "telegram_token": self.telegram.token,
            "telegram_api_base_url": self.telegram.base_url,
            "telegram_webhook_url": TELEGRAM_PUBLIC_URL,
            "telegram_webhook_secret": TELEGRAM_SECRET,
            "zalo_app_id": APP_ID,
            "zalo_oa_secret_key": OA_SECRET_KEY,
            "zalo_app_secret": self.zalo.app_secret,
            "zalo_access_token": self.zalo.access_token,
            "zalo_refresh_token": self.zalo.refresh_token,
            "zalo_api_url": self.zalo.url,
        }

    async def stop(self) -> None:
        await self.telegram.stop()
        await self.zalo.stop()

    # ---- one phase

    def users(self, phase: str) -> list[dict]:
        """Each simulated user: channel, chat key, script, expected sends per message."""
        p = self.plan["phases"][phase]
        out = []
        for u in range(p["users"]):
            channel = CHANNELS[u % len(CHANNELS)]
            script = (u // len(CHANNELS)) % len(p["scripts"])
            ident = {
                "telegram": str(p["base_chat"] + u),
                "zalo": f"{p['base_zalo']}{u:012d}",
                "web": f"load{phase}{u:07d}",
            }[channel]
            expected = p["expected"][channel][script]
            out.append(
                {
                    "channel": channel,
                    "id": ident,
                    "chat": {"telegram": "t", "zalo": "z", "web": "w"}[channel] + ident,
                    "texts": p["scripts"][script],
                    "expected": expected,
                    "cum": cumulative([len(e) for e in expected]),
                }
            )
        return out

    async def run_phase(self, phase: str) -> dict:
        p = self.plan["phases"][phase]
        users = self.users(phase)
        self.web_bad, self.wrong_examples = 0, []
        timeout = aiohttp.ClientTimeout(total=p.get("request_timeout", 30))
        connector = aiohttp.TCPConnector(limit=self.plan["limit"])
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
        ) as http:
            self.http = http
            await self.web_sessions(users)

            def make(u: int, k: int, due: float) -> Sample:
                return Sample(users[u]["channel"], u, k, due)

            async def send(sample: Sample) -> None:
                await self.send(users[sample.user], sample, wait_all=phase == "closed")

            loop = asyncio.get_running_loop()
            if phase == "open":
                rng = random.Random(self.plan["seed"])
                schedule = open_schedule(len(users), p["interval"], p["duration"], rng)
                schedule = [s for s in schedule if s[2] < len(users[s[1]]["texts"])]
                t0 = loop.time()
                samples = await open_loop(schedule, make, send, p["settle"])
                window = (t0, t0 + p["duration"])
            else:
                samples, t0 = await closed_loop(
                    range(len(users)),
                    lambda u: len(users[u]["texts"]),
                    make,
                    send,
                    p["duration"],
                    p["settle"],
                    p.get("in_flight"),
                )
                # Throughput over the steady part: the first seconds are the start-up burst.
                window = (t0 + p["duration"] * p.get("warmup_fraction", 0.2), t0 + p["duration"])
            t_end = loop.time()
        stats = phase_stats(samples, window)
        stats["wrong_replies"] = self.wrong(users, samples) + self.web_bad
        stats["wrong_examples"] = self.wrong_examples
        stats["t0_monotonic"] = t0 - loop.time() + time.monotonic()
        stats["t_end_monotonic"] = t_end - loop.time() + time.monotonic()
        stats["window_s"] = window[1] - window[0]
        stats["users"] = len(users)
        if phase == "open":
            stats["offered_per_s"] = len(samples) / p["duration"]
        return stats

    def wrong(self, users: list[dict], samples: list[Sample]) -> int:
        """Webhook replies that were not the expected texts, for the messages sent."""
        sent: dict[int, int] = {}
        for s in samples:
            sent[s.user] = max(sent.get(s.user, 0), s.k + 1)
        wrong = 0
        for u, n in sent.items():
            user = users[u]
            if user["channel"] == "web":
                continue
            expected = [t for per_msg in user["expected"][:n] for t in per_msg]
            got = [t for _at, t in self.replies.got.get(user["chat"], [])]
            bad = wrong_texts(got, expected)
            if bad and len(self.wrong_examples) < 5:
                self.wrong_examples.append(
                    {
                        "channel": user["channel"],
                        "sent": user["texts"][:n],
                        "expected": [(t or "")[:60] for t in expected],
                        "got": [(t or "")[:60] for t in got],
                    }
                )
            wrong += bad
        return wrong

    async def web_sessions(self, users: list[dict]) -> None:
        """GET / for each web user first, as the page's browser does: the session cookie."""
        sem = asyncio.Semaphore(32)

        async def one(user: dict) -> None:
            async with sem, self.http.get(self.bot + "/") as resp:
                await resp.read()
                jar = SimpleCookie()
                for header in resp.headers.getall("Set-Cookie", []):
                    jar.load(header)
                self.cookies[user["id"]] = "; ".join(f"{k}={m.value}" for k, m in jar.items())

        await asyncio.gather(*(one(u) for u in users if u["channel"] == "web"))

    async def send(self, user: dict, sample: Sample, wait_all: bool) -> None:
        loop = asyncio.get_running_loop()
        text = user["texts"][sample.k]
        sample.started = loop.time()
        channel = user["channel"]
        if channel == "web":
            await self.send_web(user, sample, text)
            return
        if channel == "telegram":
            chat = int(user["id"])
            body = {
                "update_id": next(self.update_ids),
                "message": {
                    "message_id": sample.k + 1,
                    "from": {"id": chat, "is_bot": False, "first_name": "Y Blơi"},
                    "chat": {"id": chat, "first_name": "Y Blơi", "type": "private"},
                    "date": int(time.time()),
                    "text": text,
                },
            }
            raw = json.dumps(body, ensure_ascii=False).encode()
            url = self.bot + TELEGRAM_PATH
            headers = {
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
            }
        else:
            from tests.fakes.zalo_api import sign

            ev = copy.deepcopy(self.zalo_template)
            ev["timestamp"] = str(int(time.time() * 1000))
            ev["sender"]["id"] = user["id"]
            ev["message"]["msg_id"] = f"load{next(self.zalo_ids):012d}"
            ev["message"]["text"] = text
            raw = json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode()
            url = self.bot + ZALO_PATH
            headers = {
                "Content-Type": "application/json",
                "X-ZEvent-Signature": sign(self.zalo_app_id, raw, ev["timestamp"], self.zalo_key),
            }
        async with self.http.post(url, data=raw, headers=headers) as resp:
            await resp.read()
            status = resp.status
        sample.acked = loop.time()
        if status != 200:
            sample.error = f"HTTP {status}"
            return
        cum = user["cum"]
        if cum[sample.k + 1] == cum[sample.k]:  # a message without a reply: answered at the 200
            sample.done = sample.acked
            return
        sample.done = await self.replies.nth(user["chat"], cum[sample.k] + 1)
        if wait_all:
            await self.replies.nth(user["chat"], cum[sample.k + 1])

    async def send_web(self, user: dict, sample: Sample, text: str) -> None:
        # Who the user is comes from the session cookie (GET / gave it); `id` names the message.
        body = {"message_id": f"{user['id']}k{sample.k:05d}", "text": text}
        headers = {"Origin": self.bot}
        if self.cookies.get(user["id"]):
            headers["Cookie"] = self.cookies[user["id"]]
        async with self.http.post(self.bot + WEB_PATH, json=body, headers=headers) as resp:
            data = await resp.read()
            status = resp.status
        sample.done = asyncio.get_running_loop().time()
        if status != 200:
            sample.error = f"HTTP {status}"
            return
        replies = json.loads(data).get("replies") or []
        got = [r.get("text") for r in replies]
        bad = wrong_texts(got, user["expected"][sample.k])
        if bad and len(self.wrong_examples) < 5:
            self.wrong_examples.append(
                {
                    "channel": "web",
                    "sent": [text],
                    "expected": [(t or "")[:60] for t in user["expected"][sample.k]],
                    "got": [(t or "")[:60] for t in got],
                }
            )
        self.web_bad += bad
        if len(got) < len(user["expected"][sample.k]):
            sample.error = "missing replies"


async def serve(plan_path: Path, bot_port: int) -> None:
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    load = Load(plan, bot_port)
    ready = await load.start()
    print(json.dumps({"ready": ready}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            command = json.loads(line)
            if command.get("quit"):
                break
            result = await load.run_phase(command["phase"])
            print(json.dumps({"result": result}), flush=True)
    finally:
        await load.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", type=Path, required=True, help="the JSON plan bench_load wrote")
    parser.add_argument("--bot-port", type=int, required=True)
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    asyncio.run(serve(args.plan, args.bot_port))


if __name__ == "__main__":
    main()
