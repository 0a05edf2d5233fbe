"""`make bench`: run every benchmark in its own process and write docs/benchmarks.md.

Each benchmark module prints a markdown table, then a JSON object; both are kept. The section
between the `rasa` markers is written by `make bench-rasa` and preserved here.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks" / "results"
BENCHES = [
    ("bench_bot", "The running bot: memory, start time, per-message latency"),
    ("bench_nlu", "Built-in NLU: training, model size, predict latency"),
    ("bench_telegram", "Telegram through python-telegram-bot and the fake Bot API"),
    ("bench_zalo", "Zalo OA webhooks through the fake Zalo API"),
    ("bench_zalo_bot", "Zalo Bot Platform next to Telegram, through their fake APIs"),
    ("bench_durability", "Durability: the bot SIGKILLed under load, replies lost and sent twice"),
    ("bench_load", "Load: 1,000 users on the webhooks and the web chat, SQLite and PostgreSQL"),
    ("bench_forms", "Forms: form turns next to question-answer turns, SQLite and PostgreSQL"),
    ("bench_open_data", "Open data: the indicators JSON, 100,000 reports, SQLite and PostgreSQL"),
    ("bench_voice", "Voice: converting a recording, and what voice adds to an answer turn"),
    ("bench_notices", "Notices: a broadcast at 30/s, dispatch throughput, composing 100,000"),
    ("bench_dashboard", "Staff dashboard: 100,000 reports and feedback, SQLite and PostgreSQL"),
    ("bench_overview", "Staff overview: its figures with 100,000 rows; counting a turn"),
]
RASA_BEGIN, RASA_END = "<!-- rasa:begin -->", "<!-- rasa:end -->"
COMPARE_BEGIN, COMPARE_END = "<!-- compare:begin -->", "<!-- compare:end -->"
EVAL_BEGIN, EVAL_END = "<!-- eval:begin -->", "<!-- eval:end -->"  # `make eval` writes it
# Measured by hand with the outage and shutdown tests' set-up (tests/inbound): kept as written.
OUTAGE_BEGIN, OUTAGE_END = "<!-- outage:begin -->", "<!-- outage:end -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def run_one(module: str) -> tuple[str, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{proc.stderr[-3000:]}")
    out = proc.stdout
    start = out.find("\n{")
    md, data = (out[:start], json.loads(out[start + 1 :])) if start >= 0 else (out, {})
    data["_seconds"] = round(time.perf_counter() - t0, 1)
    return md.strip(), data


def kept_section(begin: str, end: str, missing: str) -> str:
    """A section another command writes (between its markers), kept as it is."""
    if DOC.is_file():
        text = DOC.read_text(encoding="utf-8")
        if begin in text and end in text:
            return text[text.index(begin) : text.index(end) + len(end)]
    return f"{begin}\n{missing}\n{end}"


def rasa_section() -> str:
    return kept_section(RASA_BEGIN, RASA_END, "Not measured yet: run `make bench-rasa`.")


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    sections, all_data = [], {}
    for module, title in BENCHES:
        if not (ROOT / "benchmarks" / f"{module}.py").is_file():
            continue
        print(f"running {module} ...", flush=True)
        md, data = run_one(module)
        all_data[module] = data
        sections.append(
            f"## {title}\n\n`python -m benchmarks.{module}` ({data['_seconds']} s)\n\n{md}\n"
        )
        print(md, flush=True)
    (RESULTS / "bench.json").write_text(json.dumps(all_data, indent=1), encoding="utf-8")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(
        "\n".join(
            [
                "# Benchmarks",
                "",
                f"Latest `make bench`: **{now}** on {machine()}.",
                "",
                "Machines here have 2 cores and are noisy: figures are medians of repeated runs, "
                "and each",
                "latency is given with a baseline measured in the same process, "
                "so the ratio is what to compare",
                "between runs. Regenerate with `make bench` "
                "(this file is rewritten; the Rasa and the comparison sections are kept).",
                "A whole `make bench` takes about 12 minutes on 2 cores, 6 to 8 of them the load "
                "benchmark (`python -m benchmarks.bench_load --quick` tries it in 3).",
                "",
                "## Against the previous commit, back to back (`make bench-compare`)",
                "",
                kept_section(
                    COMPARE_BEGIN,
                    COMPARE_END,
                    "Not measured yet: run `make bench-compare BASE=<commit>`.",
                ),
                "",
                *sections,
                "## Built-in NLU against a Rasa 3.6 server (`make bench-rasa`)",
                "",
                rasa_section(),
                "",
                "## Understanding: evaluation sets (`make eval`)",
                "",
                kept_section(EVAL_BEGIN, EVAL_END, "Not measured yet: run `make eval`."),
                "",
                "## Outages and shutdown: PostgreSQL stopped or frozen under webhook traffic",
                "",
                kept_section(OUTAGE_BEGIN, OUTAGE_END, "Not measured yet."),
                "",
            ]
        ),
        encoding="utf-8",
    )
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
