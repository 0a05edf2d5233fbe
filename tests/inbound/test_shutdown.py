"""SIGTERM under load: a real bot process stops accepting, finishes what it has, and exits 0
within its grace period; the next process answers what was left; nothing is answered twice.

As `docker stop` does: SIGTERM to `python -m bot run` while Telegram and Zalo webhooks keep
coming and the platforms' sends are slow (so some are in flight when the signal comes). The
platforms' side resends whatever got no 200 (503 "shutting down", or no answer at all once the
process is gone) to the same address, where a new process starts on the same database.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from tests.inbound.harness import Offer, Platforms
from tests.processes import free_port

GRACE = 4.0


async def test_sigterm_under_load_finishes_in_hand_exits_0_and_nothing_is_lost_or_doubled(
    tmp_path: Path,
) -> None:
    async with Platforms(tmp_path, SHUTDOWN_GRACE_SECONDS=str(GRACE)) as platforms:
        platforms.telegram.slow("sendMessage", delay=0.15, times=100_000)
        port = free_port()
        bot = await platforms.start_bot(port=port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        stopping_answers: list = []
        state = {"stopping": False, "restarted": None}
        deliveries: list[asyncio.Task] = []

        async def deliver(offer: Offer) -> None:
            while loop.time() - started < 90:
                answer = await platforms.post(offer)
                if state["stopping"] and state["restarted"] is None:
                    stopping_answers.append(answer)
                if answer.status == 200:
                    return
                await asyncio.sleep(0.2)

        async def load() -> None:
            for i in range(150):
                await asyncio.sleep(max(0.0, started + i / 30 - loop.time()))
                for offer in (platforms.telegram_offer(), platforms.zalo_offer()):
                    deliveries.append(asyncio.create_task(deliver(offer)))

        async def terminate_then_restart() -> tuple[int, float]:
            await asyncio.sleep(2.0)
            state["stopping"] = True
            t = time.monotonic()
            code = await bot.terminate(timeout=GRACE + 10)
            took = time.monotonic() - t
            state["restarted"] = False
            await platforms.start_bot(port=port)
            state["restarted"] = True
            return code, took

        (_, (code, took)) = await asyncio.gather(load(), terminate_then_restart())
        await asyncio.gather(*deliveries)
        offers = platforms.offers
        waited = await platforms.all_answered(offers, timeout=60)
        await asyncio.sleep(1.5)  # anything sent twice shows by now
        inbox = Counter(r[0] for r in await platforms.query("SELECT status FROM inbox"))
        outbox = Counter(r[0] for r in await platforms.query("SELECT status FROM outbox"))
        first_log = (tmp_path / "bot-1.log").read_text(errors="replace")
        assert platforms.bot is not None
        second = await platforms.bot.terminate()
        assert second == 0, platforms.bot.tail(60)

    assert code == 0, first_log[-3000:]
    assert took < GRACE + 1.5, f"took {took:.1f}s to stop"
    assert all(o.acknowledged for o in offers)
    replies = Counter(platforms.replies(o) for o in offers)
    assert replies == {1: len(offers)}, f"replies per update: {replies} (waited {waited:.1f}s)"
    assert inbox == {"done": len(offers)} and outbox == {"sent": len(offers)}, (inbox, outbox)
    # While it stopped, webhooks were refused (so the platforms send again), never a 500.
    statuses = Counter(a.status for a in stopping_answers)
    assert statuses.get(503, 0) > 0, statuses
    assert not any(isinstance(s, int) and s >= 500 and s != 503 for s in statuses), statuses
    assert any("shutting down" in a.body for a in stopping_answers if a.status == 503)
    assert "stopped" in first_log
