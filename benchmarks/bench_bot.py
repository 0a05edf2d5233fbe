"""The running bot: idle RSS, start time to a healthy /healthz, per-message latency in process.

Latency goes through the whole pipeline (inbox claim, user, consent, locale, flood limit, NLU,
action, the replies written as outbox rows, commit) on a SQLite file, and is compared with a
baseline measured in the same process: one bare database transaction (open a session, SELECT 1,
commit), the floor any message pays.

What the outbox costs per reply (benchmarks/outbox_cost.py), in the same process: turns with the
outbox write against the same turns with it skipped, and the post-commit flush (claim + mark sent,
delivery stubbed) per reply.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from benchmarks import outbox_cost
from benchmarks.stats import free_port, percentile

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [
    "chào bạn",
    "hỗ trợ xây nhà cho hộ nghèo",
    "ho tro nuoc sinh hoat",
    "quế trà bồng bán ở mô",
    "dự án 4 làm chi",
    "số điện thoại công an",
    "cảm ơn nhiều nha",
    "tôi muốn gặp cán bộ",
    "bảo hiểm y tế cho đồng bào",
    "thời tiết mai ra răng",
    "/help",
    "hoc nghe o dau",
]


def start_and_idle(db_url: str, runs: int = 3) -> dict:
    """Start `python -m bot run` `runs` times: seconds to healthy, then RSS after 3 s idle."""
    starts, rss = [], []
    for _ in range(runs):
        port = free_port()
        env = {**os.environ, "DATABASE_URL": db_url, "BOT_PORT": str(port), "LOG_LEVEL": "WARNING"}
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--no-console"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = t0 + 30
            while time.perf_counter() < deadline:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.02)
            else:
                raise RuntimeError(
                    "bot did not become healthy: " + proc.stderr.read().decode()[-2000:]
                )
            starts.append(time.perf_counter() - t0)
            time.sleep(3)
            p = psutil.Process(proc.pid)
            rss.append(sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 2**20)
        finally:
            proc.terminate()
            proc.wait(10)
    return {
        "start_to_healthy_s": statistics.median(starts),
        "start_runs": starts,
        "idle_rss_mb": statistics.median(rss),
        "rss_runs": rss,
    }


async def latency(db_url: str, n: int = 600, repeats: int = 3) -> dict:
    from sqlalchemy import text

    from bot.app import build_pipeline, build_services
    from bot.config import load_settings
    from bot.messages import IncomingMessage

    settings = load_settings(ROOT / "config.yml", env={})
    settings = type(settings)(
        **{**settings.__dict__, "limits": type(settings.limits)(flood_messages=10**9)}
    )
    services, engine = build_services(settings, db_url)
    pipeline = build_pipeline(services)
    runs_msg, runs_base = [], []
    counter = 0
    for _ in range(repeats):
        per_msg, base = [], []
        for i in range(n):
            counter += 1
            msg = IncomingMessage(
                channel="bench",
                sender_id=f"u{i % 50}",
                message_id=f"b{counter}",
                text=MESSAGES[i % len(MESSAGES)],
                locale_hint="vi",
            )
            t0 = time.perf_counter()
            await pipeline.handle(msg)
            per_msg.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            async with services.sessionmaker() as s:
                await s.execute(text("SELECT 1"))
                await s.commit()
            base.append((time.perf_counter() - t0) * 1000)
        runs_msg.append(per_msg)
        runs_base.append(base)
    cost = await outbox_cost.measure(services, pipeline, MESSAGES, n=n // 2, repeats=repeats)
    await engine.dispose()
    p50 = statistics.median(percentile(r, 0.5) for r in runs_msg)
    p99 = statistics.median(percentile(r, 0.99) for r in runs_msg)
    b50 = statistics.median(percentile(r, 0.5) for r in runs_base)
    b99 = statistics.median(percentile(r, 0.99) for r in runs_base)
    return {
        "messages": n * repeats,
        "p50_ms": p50,
        "p99_ms": p99,
        "baseline_p50_ms": b50,
        "baseline_p99_ms": b99,
        "ratio_p50": p50 / b50,
        "ratio_p99": p99 / b99,
        "outbox": cost,
    }


def main() -> dict:
    from bot.storage.db import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(db_url)
        startup = start_and_idle(db_url)
        lat = asyncio.run(latency(db_url))
    result = {**startup, **lat}
    md = "\n".join(
        [
            "| measure | median | target |",
            "|---|---|---|",
            f"| idle RSS of the running bot | {result['idle_rss_mb']:.0f} MB | < 150 MB |",
            "| start to healthy `/healthz` (after setup) | "
            f"{result['start_to_healthy_s']:.2f} s | < 3 s |",
            f"| per message, whole pipeline in process, p50 | {lat['p50_ms']:.2f} ms "
            f"({lat['ratio_p50']:.1f}x baseline {lat['baseline_p50_ms']:.2f} ms) | |",
            f"| per message, whole pipeline in process, p99 | {lat['p99_ms']:.2f} ms "
            f"({lat['ratio_p99']:.1f}x baseline {lat['baseline_p99_ms']:.2f} ms) | < 10 ms |",
            "",
            "What the outbox costs per reply "
            f"({lat['outbox']['turns']} turns of each kind, interleaved, "
            f"median over {lat['outbox']['repeats']} repeats):",
            "",
            "| measure | p50 | p99 |",
            "|---|---|---|",
            *outbox_cost.markdown_rows(lat["outbox"]),
        ]
    )
    result["markdown"] = md
    return result


if __name__ == "__main__":
    r = main()
    print(r["markdown"])
    print(json.dumps({k: v for k, v in r.items() if k != "markdown"}, indent=1))
