"""The load generator's statistics (benchmarks/loadgen.py): percentiles, latency measured from
the scheduled time (coordinated omission), replies matched to messages by count. Fast: a local
aiohttp server, a few hundred milliseconds of load."""

from __future__ import annotations

import asyncio
import random
import time

import aiohttp
import pytest
from aiohttp import web

from benchmarks.loadgen import (
    Replies,
    Sample,
    closed_loop,
    cumulative,
    open_loop,
    open_schedule,
    phase_stats,
    summary,
    wrong_texts,
)
from benchmarks.stats import percentile


def test_percentiles_of_known_samples():
    xs = list(range(1, 101))  # 1..100
    assert percentile(xs, 0.5) == pytest.approx(50.5)
    assert percentile(xs, 0.99) == pytest.approx(99.01)
    assert percentile(xs, 0.0) == 1 and percentile(xs, 1.0) == 100
    assert percentile([7.0], 0.99) == 7.0
    s = summary([x / 1000 for x in xs])  # seconds in, milliseconds out
    assert s["n"] == 100 and s["p50_ms"] == pytest.approx(50.5) and s["max_ms"] == 100


def test_open_schedule_offers_users_over_interval_per_second():
    sched = open_schedule(users=200, interval=2.0, duration=10.0, rng=random.Random(1))
    assert len(sched) == 1000  # 100/s for 10 s
    assert [t for t, _u, _k in sched] == sorted(t for t, _u, _k in sched)
    by_user: dict[int, list[float]] = {}
    for t, u, k in sched:
        assert len(by_user.setdefault(u, [])) == k
        by_user[u].append(t)
    for times in by_user.values():
        assert all(b - a == pytest.approx(2.0) for a, b in zip(times, times[1:], strict=False))
    # Per second, about 100 (the offsets are uniform).
    per_second = [sum(1 for t, _u, _k in sched if s <= t < s + 1) for s in range(10)]
    assert all(70 <= n <= 130 for n in per_second), per_second


def test_phase_stats_counts_errors_and_throughput_in_the_window():
    samples = [
        Sample("web", 0, 0, scheduled=0.0, started=0.0, done=0.1),
        Sample("web", 1, 0, scheduled=1.0, started=1.0, done=1.3),
        Sample("zalo", 2, 0, scheduled=1.0, started=1.0, acked=1.01, done=None),  # lost
        Sample("telegram", 3, 0, scheduled=2.0, started=2.0, done=2.2, error="HTTP 503"),
    ]
    st = phase_stats(samples, window=(0.5, 2.5))
    assert st["messages"] == 4 and st["answered"] == 2 and st["errors"] == 2
    assert st["error_rate"] == 0.5
    assert st["error_kinds"] == {"no reply": 1, "HTTP 503": 1}
    assert st["latency"]["max_ms"] == pytest.approx(300)
    assert st["throughput_per_s"] == pytest.approx(1 / 2.0)  # only 1.3 is inside the window
    assert st["per_channel"]["zalo"]["time_to_200"]["p50_ms"] == pytest.approx(10)


async def slow_once_server(stall: float) -> tuple[web.AppRunner, str]:
    """One request at a time; the first takes `stall` seconds, the others about none."""
    lock = asyncio.Lock()
    calls = {"n": 0}

    async def handler(request: web.Request) -> web.Response:
        async with lock:
            calls["n"] += 1
            if calls["n"] == 1:
                await asyncio.sleep(stall)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/"


async def test_open_loop_latency_includes_the_queueing_a_slow_server_causes():
    """A server that stalls 0.5 s on its first request: every request due during the stall waits
    for it, and its latency, measured from when it was due, shows that wait. A closed loop on the
    same server (the next request only after the previous answer) hides it: one slow sample."""
    stall, step, n = 0.5, 0.025, 20
    runner, url = await slow_once_server(stall)
    try:
        async with aiohttp.ClientSession() as http:

            async def send(sample: Sample) -> None:
                sample.started = asyncio.get_running_loop().time()
                async with http.post(url, data=b"x") as resp:
                    await resp.read()
                sample.done = asyncio.get_running_loop().time()

            def make(u: int, k: int, due: float) -> Sample:
                return Sample("web", u, k, due)

            schedule = [(i * step, i, 0) for i in range(n)]
            samples = await open_loop(schedule, make, send, settle=5.0)
        lat = {s.user: s.latency for s in samples}
        assert len(lat) == n and all(v is not None for v in lat.values())
        for i in range(n):  # due at i*step, answered after the stall ended at ~0.5 s
            assert lat[i] >= stall - i * step - 0.02, (i, lat[i])
        assert summary(list(lat.values()))["p50_ms"] > 200
    finally:
        await runner.cleanup()

    runner, url = await slow_once_server(stall)
    try:
        async with aiohttp.ClientSession() as http:

            async def send_closed(sample: Sample) -> None:
                async with http.post(url, data=b"x") as resp:
                    await resp.read()
                sample.done = asyncio.get_running_loop().time()

            samples, _t0 = await closed_loop(
                [0], lambda u: n, lambda u, k, due: Sample("web", u, k, due), send_closed, 5, 5
            )
        closed = [s.latency for s in samples]
        assert len(closed) == n
        assert summary(closed)["p50_ms"] < 100  # the stall is one sample of twenty
    finally:
        await runner.cleanup()


async def test_open_loop_counts_its_own_stall_against_the_scheduled_time():
    """When the load process itself falls behind (its loop blocked 0.3 s), the messages due
    meanwhile go out late; their latency runs from when they were due, and the lag is shown."""
    done_at: list[float] = []

    async def send(sample: Sample) -> None:
        loop = asyncio.get_running_loop()
        sample.started = loop.time()
        await asyncio.sleep(0.001)
        sample.done = loop.time()
        done_at.append(sample.done)

    loop = asyncio.get_running_loop()
    loop.call_later(0.05, time.sleep, 0.3)  # blocks the loop from 0.05 s to 0.35 s
    schedule = [(i * 0.02, i, 0) for i in range(25)]  # due 0 .. 0.48 s
    samples = await open_loop(schedule, lambda u, k, due: Sample("web", u, k, due), send, 5.0)
    t0 = samples[0].scheduled
    for s in samples:
        due = s.scheduled - t0
        if 0.06 <= due <= 0.33:
            assert s.latency >= 0.35 - due - 0.02, (due, s.latency)
    st = phase_stats(samples)
    assert st["lag"]["max_ms"] >= 250


async def test_replies_are_matched_to_messages_by_count():
    replies = Replies()
    counts = [2, 1, 3]  # sends each message gives
    cum = cumulative(counts)
    assert cum == [0, 2, 3, 6]
    waiter = asyncio.ensure_future(replies.nth("t1", cum[1] + 1))  # message 1's first reply
    for i, at in enumerate([1.0, 1.1, 2.0, 3.0, 3.1, 3.2]):
        replies.add("t1", at, f"r{i}")
        await asyncio.sleep(0)
        if i < 2:
            assert not waiter.done()
    assert await waiter == 2.0
    assert await replies.nth("t1", cum[2] + 1) == 3.0  # message 2's first reply, already there
    assert wrong_texts(["a", "b", None], ["a", "x", "c"]) == 1
    assert wrong_texts(["a", "b"], ["a"]) == 1  # an extra reply
    assert wrong_texts(["a"], ["a", "b"]) == 0  # a missing one is an unanswered message


async def test_closed_loop_keeps_at_most_in_flight_messages_outstanding():
    outstanding, peak = 0, 0

    async def send(sample: Sample) -> None:
        nonlocal outstanding, peak
        outstanding += 1
        peak = max(peak, outstanding)
        await asyncio.sleep(0.005)
        outstanding -= 1
        sample.done = asyncio.get_running_loop().time()

    samples, _t0 = await closed_loop(
        range(20), lambda u: 3, lambda u, k, due: Sample("web", u, k, due), send, 5, 5, 4
    )
    assert len(samples) == 60 and peak == 4
    assert all(s.latency is not None and s.latency < 0.1 for s in samples)
