"""`make bench-compare BASE=<commit>`: this tree's figures against another checkout's, back to back.

Runs bench_bot, bench_telegram and bench_zalo alternately in the other checkout (with its own
virtualenv, `make setup` there) and here, `--rounds` times each, and writes the median of each
figure, side by side with the ratio, into the comparison section of docs/benchmarks.md. The
machines are noisy: alternating the two sides makes drift hit both alike.

    python -m benchmarks.compare --base var/bench-base [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.run import COMPARE_BEGIN, COMPARE_END, DOC, ROOT, machine

TOLERANCE = 0.15  # the restructure may cost at most this much on any figure
# (label, benchmark, key path in its JSON, higher is better)
FIGURES = [
    ("per message, whole pipeline in process, p50 (ms)", "bench_bot", "p50_ms", False),
    ("per message, whole pipeline in process, p99 (ms)", "bench_bot", "p99_ms", False),
    (
        "Telegram polling, messages/s, 16 in flight",
        "bench_telegram",
        "modes.polling.messages_per_s",
        True,
    ),
    (
        "Telegram webhook, messages/s, 16 in flight",
        "bench_telegram",
        "modes.webhook.messages_per_s",
        True,
    ),
    (
        "Telegram polling, reply p50 one at a time (ms)",
        "bench_telegram",
        "modes.polling.latency_sequential.p50_ms",
        False,
    ),
    (
        "Telegram webhook, reply p50 one at a time (ms)",
        "bench_telegram",
        "modes.webhook.latency_sequential.p50_ms",
        False,
    ),
    (
        "Telegram polling, reply p50 at 25 messages/s (ms)",
        "bench_telegram",
        "modes.polling.latency_offered.p50_ms",
        False,
    ),
    (
        "Telegram webhook, reply p50 at 25 messages/s (ms)",
        "bench_telegram",
        "modes.webhook.latency_offered.p50_ms",
        False,
    ),
    (
        "Telegram webhook, time to 200 p50 at 25 messages/s (ms)",
        "bench_telegram",
        "modes.webhook.time_to_200_offered.p50_ms",
        False,
    ),
    ("Zalo (SQLite), events/s answered 200", "bench_zalo", "sqlite.events_per_s_to_200", True),
    ("Zalo (SQLite), events/s replied", "bench_zalo", "sqlite.events_per_s_to_reply", True),
    ("Zalo (SQLite), time to 200 p50 (ms)", "bench_zalo", "sqlite.time_to_200.p50_ms", False),
    (
        "Zalo (SQLite), time to first reply p50 (ms)",
        "bench_zalo",
        "sqlite.time_to_reply.p50_ms",
        False,
    ),
    (
        "Zalo (PostgreSQL), events/s answered 200",
        "bench_zalo",
        "postgresql.events_per_s_to_200",
        True,
    ),
    ("Zalo (PostgreSQL), events/s replied", "bench_zalo", "postgresql.events_per_s_to_reply", True),
    (
        "Zalo (PostgreSQL), time to first reply p50 (ms)",
        "bench_zalo",
        "postgresql.time_to_reply.p50_ms",
        False,
    ),
]


def run(checkout: Path, python: str, module: str) -> dict:
    proc = subprocess.run(
        [python, "-m", f"benchmarks.{module}"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} in {checkout} failed:\n{proc.stderr[-2000:]}")
    start = proc.stdout.find("\n{")
    return json.loads(proc.stdout[start + 1 :]) if start >= 0 else {}


def pick(data: dict, path: str) -> float | None:
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return float(data) if isinstance(data, (int, float)) else None


def git_rev(checkout: Path) -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True
    )
    return proc.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, type=Path, help="the other checkout (set up)")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    base = args.base.resolve()
    base_python = str(base / ".venv" / "bin" / "python")
    modules = sorted({m for _label, m, _path, _hi in FIGURES})
    values: dict[str, dict[str, list[float]]] = {"base": {}, "new": {}}
    for r in range(args.rounds):
        for side, checkout, python in (("base", base, base_python), ("new", ROOT, sys.executable)):
            for module in modules:
                print(f"round {r + 1}: {side} {module} ...", flush=True)
                data = run(checkout, python, module)
                for label, m, path, _hi in FIGURES:
                    if m == module and (v := pick(data, path)) is not None:
                        values[side].setdefault(label, []).append(v)
    rows, over = [], []
    for label, _m, _path, higher in FIGURES:
        b, n = values["base"].get(label), values["new"].get(label)
        if not b or not n:
            continue
        mb, mn = statistics.median(b), statistics.median(n)
        ratio = mn / mb if mb else float("nan")
        worse = (1 - ratio) if higher else (ratio - 1)
        flag = "yes" if worse <= TOLERANCE else f"no ({worse:+.0%})"
        if worse > TOLERANCE:
            over.append(label)
        rows.append(f"| {label} | {mb:.1f} | {mn:.1f} | {ratio:.2f}x | {flag} |")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            COMPARE_BEGIN,
            f"Latest `make bench-compare`: **{now}** on {machine()}; base `{git_rev(base)}`, this "
            f"tree `{git_rev(ROOT)}`; {args.rounds} rounds, the two sides alternating, medians.",
            "",
            f"| figure | base | this tree | ratio | within {TOLERANCE:.0%} |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "Over the tolerance: " + ("; ".join(over) if over else "none") + ".",
            COMPARE_END,
        ]
    )
    text = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    if COMPARE_BEGIN in text and COMPARE_END in text:
        text = (
            text[: text.index(COMPARE_BEGIN)]
            + section
            + text[text.index(COMPARE_END) + len(COMPARE_END) :]
        )
    else:
        text = (
            text.rstrip() + "\n\n## Against the previous commit, back to back\n\n" + section + "\n"
        )
    DOC.write_text(text, encoding="utf-8")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
