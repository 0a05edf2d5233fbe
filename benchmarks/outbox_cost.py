"""What the outbox costs per reply, measured in the same process (bench_bot, bench_telegram).

Since the restructure a turn writes its replies as outbox rows in its own transaction, already
taken for sending when nothing older of the user waits, and the sender core delivers them right
after the commit (`Sender.deliver`: deliver, then mark it sent in a group commit).
Two figures, each against a baseline taken in the same loop:

- the turn with its outbox write against the same turn with the write skipped
  (`bot.storage.repositories.outbox.add_replies` patched to insert nothing);
  the turns alternate, message by message, so drift and noise hit both alike;
- the post-commit flush per reply through a channel whose delivery does nothing
  (`NullChannel`): the outbox's own part of sending, the "sent" mark, which waits up to
  `_SentMarks.LINGER` for others to share its write (the CPU and database time is the mark alone),
  divided by the replies the turn queued.

Latency percentiles are taken per repeat and the median over repeats is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.stats import percentile


class NullChannel:
    """A push channel whose platform call does nothing: a flush then costs only the outbox."""

    def __init__(self, name: str) -> None:
        from bot.outbox.sender import Limits

        self.name = name
        self.limits = Limits(per_second=0.0, per_chat_interval=0.0)  # 0: no rate limit

    def parts(self, reply: Any) -> list[Any]:
        return [reply]

    async def deliver(self, recipient: str, part: Any) -> str | None:
        return None


def _p(values: list[list[float]], q: float) -> float:
    return statistics.median(percentile(v, q) for v in values if v)


async def measure(
    services: Any,
    pipeline: Any,
    texts: Sequence[str],
    n: int = 300,
    repeats: int = 3,
    users: int = 50,
    channel: str = "bench-outbox",
) -> dict:
    """`n` turns with the outbox write (each followed by its flush) interleaved with `n` turns
    without it, `repeats` times; medians over repeats of p50 / p99, in ms."""
    from bot.messages import IncomingMessage
    from bot.outbox.sender import RetryPolicy, Sender
    from bot.storage.repositories import outbox

    sender = Sender(services.sessionmaker, RetryPolicy())
    sender.add_channel(NullChannel(channel))
    lease = pipeline.reply_lease
    pipeline.reply_lease = sender.policy.lease  # as the inbound worker sets it
    real_add = outbox.add_replies
    real_mark_sent = outbox.mark_sent_many
    phases: dict[str, list[float]] = {"mark_sent": []}

    async def timed_mark_sent(*args: Any, **kw: Any) -> None:
        t0 = time.perf_counter()
        await real_mark_sent(*args, **kw)
        phases["mark_sent"].append((time.perf_counter() - t0) * 1000)

    async def no_outbox_write(_session: Any, **_kw: Any) -> Any:
        return outbox.Queued([], [])

    with_runs: list[list[float]] = []
    without_runs: list[list[float]] = []
    flush_reply_runs: list[list[float]] = []
    flush_turn_runs: list[list[float]] = []
    replies = sent = 0
    counter = 0

    async def with_write(i: int) -> tuple[float, float, int]:
        nonlocal counter, replies, sent
        counter += 1
        msg = IncomingMessage(
            channel=channel,
            sender_id=f"w{i % users}",
            message_id=f"ow{counter}",
            text=texts[i % len(texts)],
            locale_hint="vi",
        )
        t0 = time.perf_counter()
        turn = await pipeline.handle(msg)
        outbox.mark_sent_many = timed_mark_sent
        try:
            t1 = time.perf_counter()
            flushed = await sender.deliver(turn.claimed)
            t2 = time.perf_counter()
        finally:
            outbox.mark_sent_many = real_mark_sent
        replies += len(turn.outbox_ids)
        sent += flushed
        return (t1 - t0) * 1000, (t2 - t1) * 1000, len(turn.outbox_ids)

    async def without_write(i: int) -> float:
        nonlocal counter
        counter += 1
        msg = IncomingMessage(
            channel=channel,
            sender_id=f"s{i % users}",
            message_id=f"os{counter}",
            text=texts[i % len(texts)],
            locale_hint="vi",
        )
        outbox.add_replies = no_outbox_write
        try:
            t0 = time.perf_counter()
            await pipeline.handle(msg)
            return (time.perf_counter() - t0) * 1000
        finally:
            outbox.add_replies = real_add

    for _ in range(repeats):
        w, wo, fr, ft = [], [], [], []
        for i in range(n):
            if i % 2:  # alternate which goes first
                wo.append(await without_write(i))
                turn_ms, flush_ms, k = await with_write(i)
            else:
                turn_ms, flush_ms, k = await with_write(i)
                wo.append(await without_write(i))
            w.append(turn_ms)
            if k:
                ft.append(flush_ms)
                fr.append(flush_ms / k)
        with_runs.append(w)
        without_runs.append(wo)
        flush_reply_runs.append(fr)
        flush_turn_runs.append(ft)

    pipeline.reply_lease = lease
    w50, w99 = _p(with_runs, 0.5), _p(with_runs, 0.99)
    b50, b99 = _p(without_runs, 0.5), _p(without_runs, 0.99)
    return {
        "turns": n * repeats,
        "repeats": repeats,
        "replies_queued": replies,
        "replies_flushed": sent,
        "replies_per_turn": replies / max(1, n * repeats),
        "turn_with_outbox_p50_ms": w50,
        "turn_with_outbox_p99_ms": w99,
        "turn_without_outbox_p50_ms": b50,
        "turn_without_outbox_p99_ms": b99,
        "outbox_write_ratio_p50": w50 / b50,
        "outbox_write_ratio_p99": w99 / b99,
        "outbox_write_added_p50_ms": w50 - b50,
        "flush_per_reply_p50_ms": _p(flush_reply_runs, 0.5),
        "flush_per_reply_p99_ms": _p(flush_reply_runs, 0.99),
        "flush_per_turn_p50_ms": _p(flush_turn_runs, 0.5),
        "flush_per_turn_p99_ms": _p(flush_turn_runs, 0.99),
        # Inside the flush, all repeats pooled: each statement with its commit (the write gate's
        # wait and opening the session are outside these).
        "flush_phases_p50_ms": {k: percentile(v, 0.5) for k, v in phases.items()},
        "flush_phases_calls": {k: len(v) for k, v in phases.items()},
    }


def markdown_rows(o: dict) -> list[str]:
    """Rows for a `| measure | p50 | p99 |` table."""
    ph = o["flush_phases_p50_ms"]
    return [
        f"| turn with its outbox write | {o['turn_with_outbox_p50_ms']:.2f} ms | "
        f"{o['turn_with_outbox_p99_ms']:.2f} ms |",
        "| baseline: the same turn, outbox write skipped | "
        f"{o['turn_without_outbox_p50_ms']:.2f} ms "
        f"| {o['turn_without_outbox_p99_ms']:.2f} ms |",
        f"| ratio (outbox write {o['outbox_write_added_p50_ms']:+.2f} ms at p50) | "
        f"{o['outbox_write_ratio_p50']:.2f}x "
        f"| {o['outbox_write_ratio_p99']:.2f}x |",
        f"| post-commit send per reply until its mark is durable, delivery stubbed (the mark "
        f"waits up to 3 ms to share its write; {o['replies_per_turn']:.2f} replies per turn) "
        f"| {o['flush_per_reply_p50_ms']:.2f} ms | {o['flush_per_reply_p99_ms']:.2f} ms |",
        f'| of which the "sent" mark\'s write (its statement and commit), p50 per call '
        f"| {ph['mark_sent']:.2f} ms | |",
    ]
