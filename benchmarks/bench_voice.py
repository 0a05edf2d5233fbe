"""Translators' recordings: what a conversion costs, and what voice adds to an answer turn.

1. Conversion (bot/voice/audio.py: probe, loudness measurement, normalisation, OGG/Opus + M4A)
   of a 2 s, a 30 s and a 120 s recording (sine tones made with ffmpeg's lavfi source; never
   speech), median and p99 of `--runs` conversions each, next to a plain decode of the same
   file by ffmpeg (`-f null`) measured in the same process: the ratio is the work loudnorm and
   the two encodes add.
2. Answer turns on SQLite (`build_pipeline`, one process): a Vietnamese villager asking the
   housing question (the baseline: one `answer_counts` upsert, no voice lookup), a Hrê
   villager with nothing approved (+ the approved-recording query, the note), and a Hrê
   villager with an approved recording (+ the voice reply). Rounds alternate the three; the
   table gives the median of the rounds' median and p99 per turn, and the ratio to the
   baseline.

Run: `python -m benchmarks.bench_voice [--runs N] [--turns N] [--rounds N]`. Prints a markdown
table between `<!-- voice:begin -->` and `<!-- voice:end -->`, then a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.stats import percentile  # noqa: E402

HOUSING = "ho tro lam nha bao nhieu tien"
_ids = itertools.count(1)


def tone(seconds: float, folder: Path) -> Path:
    out = folder / f"tone-{seconds:g}.ogg"
    subprocess.run(
        ["/usr/bin/ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=440:duration={seconds}", "-af", "volume=0.1", "-c:a", "libopus",
         str(out)],
        check=True,
        timeout=120,
    )  # fmt: skip
    return out


async def conversions(runs: int) -> list[dict[str, Any]]:
    from bot.config import VoiceSettings
    from bot.voice import audio

    settings = VoiceSettings(max_seconds=120.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in (2, 30, 120):
            path = tone(seconds, Path(tmp))
            data = path.read_bytes()
            conv, decode = [], []
            for _ in range(runs):
                t = time.perf_counter()
                await audio.run(
                    [settings.ffmpeg, "-nostdin", "-i", str(path), "-f", "null", "-"], 120
                )
                decode.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                await audio.convert(data, "ogg", settings)
                conv.append((time.perf_counter() - t) * 1000)
            rows.append(
                {
                    "seconds": seconds,
                    "median_ms": statistics.median(conv),
                    "p99_ms": percentile(conv, 0.99),
                    "decode_median_ms": statistics.median(decode),
                    "ratio": statistics.median(conv) / statistics.median(decode),
                }
            )
    return rows


def msg(sender: str, text: str = "", payload: str | None = None, media=()):
    from bot.messages import IncomingMessage

    return IncomingMessage(
        channel="web",
        sender_id=sender,
        message_id=f"b{next(_ids)}",
        text=text,
        payload=payload,
        media=media,
    )


async def turns(n_turns: int, rounds: int) -> dict[str, Any]:
    from bot.app import build_pipeline, build_services
    from bot.config import load_settings
    from bot.outbox.sender import RetryPolicy
    from bot.storage.db import upgrade
    from bot.storage.models import Recording
    from bot.storage.repositories import voice as repo

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
        settings = load_settings(ROOT / "config.yml", env={})
        settings = dataclasses.replace(
            settings,
            limits=dataclasses.replace(settings.limits, flood_messages=10**9),
            voice=dataclasses.replace(settings.voice, dir=str(Path(tmp) / "voice")),
        )
        services, engine = await asyncio.to_thread(build_services, settings, url)
        pipeline = build_pipeline(services)
        pipeline.reply_lease = RetryPolicy().lease
        try:
            for who, lang in (("vi-0", "vi"), ("hre-none", "cua"), ("hre-voice", "hre")):
                await pipeline.handle(msg(who, payload=f"/lang {lang}"))
            async with services.sessionmaker() as s:  # an approved recording of the item (hre)
                rec = Recording(
                    kind="item",
                    key="support.housing",
                    lang="hre",
                    audio="0" * 64,
                    duration=2.0,
                    made_by_label="hre-1",
                    status="draft",
                )
                s.add(rec)
                await s.flush()
                await repo.approve(s, rec, None, "staff:1", datetime.now(UTC))
                await s.commit()
            kinds = {
                "vi": "vi-0",
                "minority, nothing approved": "hre-none",
                "minority, voice": "hre-voice",
            }
            got: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
            for _ in range(rounds):
                for kind, sender in kinds.items():
                    times = []
                    for _ in range(n_turns):
                        t = time.perf_counter()
                        turn = await pipeline.handle(msg(sender, HOUSING))
                        times.append((time.perf_counter() - t) * 1000)
                        assert turn.answer_id == "support.housing"
                    got[kind].append((statistics.median(times), percentile(times, 0.99)))
        finally:
            await engine.dispose()
    out = {
        k: {
            "median_ms": statistics.median(v[0] for v in got[k]),
            "p99_ms": statistics.median(v[1] for v in got[k]),
        }
        for k in got
    }
    base = out["vi"]
    for k in out:
        out[k]["ratio_median"] = out[k]["median_ms"] / base["median_ms"]
        out[k]["ratio_p99"] = out[k]["p99_ms"] / base["p99_ms"]
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--turns", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    conv = asyncio.run(conversions(args.runs))
    answer = asyncio.run(turns(args.turns, args.rounds))
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    lines = [
        "<!-- voice:begin -->",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load} on {os.cpu_count()} "
        "cores: compare the ratios. Conversion runs in the media step, before the turn and "
        "outside any transaction (bot/voice/media_step.py); web chat uploads in the turn.",
        "",
        f"Conversion of one recording ({args.runs} runs each; baseline: ffmpeg decoding the same "
        "file, same process):",
        "",
        "| recording | median | p99 | plain decode | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in conv:
        lines.append(
            f"| {r['seconds']} s | {r['median_ms']:.0f} ms | {r['p99_ms']:.0f} ms | "
            f"{r['decode_median_ms']:.0f} ms | {r['ratio']:.1f} |"
        )
    lines += [
        "",
        f"Answer turns on SQLite ({args.rounds} rounds of {args.turns} turns; baseline: the "
        "Vietnamese villager, same process):",
        "",
        "| villager | median | p99 | ratio median | ratio p99 |",
        "|---|---|---|---|---|",
    ]
    for k, v in answer.items():
        lines.append(
            f"| {k} | {v['median_ms']:.1f} ms | {v['p99_ms']:.1f} ms | "
            f"{v['ratio_median']:.2f} | {v['ratio_p99']:.2f} |"
        )
    lines += ["<!-- voice:end -->"]
    print("\n".join(lines))
    data = {"conversion": conv, "answer_turns": answer, "args": vars(args)}
    print(json.dumps(data))
    return data


if __name__ == "__main__":
    main()
