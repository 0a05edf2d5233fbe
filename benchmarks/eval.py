"""`make eval`: evaluation sets through `python -m bot ask`, scored as ../shared/eval/README.md
says, plus the honest-no-answer rate and the parse latency in process.

- intent accuracy: share of cases whose predicted intent equals `intent`;
- answer accuracy: share of cases with `expect` whose reply text contains every entry (case,
  diacritics and repeated spaces ignored; "a|b" accepts either);
- honest-no-answer rate: share of the cases marked `no_answer: true` (questions no content item
  covers) that got no item's facts (no `answer_id`);
- `session` (optional): lines with the same session are one conversation, sent in order.

With no path, the dev set and every set under benchmarks/data/ are run. `--strip-diacritics` sends
every message without diacritics. `--latency` also parses every case's text in process and prints
the p50 and p99 of `BuiltinEngine.parse_sync`, wall and CPU time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from nlu.evaluate import expectations_met, load_cases
from nlu.normalize import strip_diacritics

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT.parent / "shared" / "eval" / "dev.yml"
OWN_SETS = ROOT / "benchmarks" / "data"
DOC = ROOT / "docs" / "benchmarks.md"
EVAL_BEGIN, EVAL_END = "<!-- eval:begin -->", "<!-- eval:end -->"


def ask(cases: list[dict], strip: bool = False) -> list[dict]:
    """Every case's output of `python -m bot ask`, in order."""
    lines = []
    for c in cases:
        line = {
            "text": strip_diacritics(c["text"]) if strip else c["text"],
            "lang": c.get("lang", "vi"),
        }
        if c.get("session") is not None:
            line["session"] = str(c["session"])
        lines.append(json.dumps(line, ensure_ascii=False))
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "ask"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    outputs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(outputs) == len(cases), "ask must answer every line"
    return outputs


def score(cases: list[dict], outputs: list[dict]) -> dict:
    intent_ok, answer_ok, answer_n, honest, honest_n, misses = 0, 0, 0, 0, 0, []
    for case, out in zip(cases, outputs, strict=True):
        ok_i = out["intent"] == case["intent"]
        intent_ok += ok_i
        ok_a = True
        if case.get("expect"):
            answer_n += 1
            ok_a = expectations_met(case["expect"], "\n".join(out["replies"]))
            answer_ok += ok_a
        ok_h = True
        if case.get("no_answer"):
            honest_n += 1
            ok_h = out["answer_id"] is None
            honest += ok_h
        if not (ok_i and ok_a and ok_h):
            misses.append(
                {
                    "text": case["text"],
                    "session": case.get("session"),
                    "want": case["intent"],
                    "got": out["intent"],
                    "conf": out["confidence"],
                    "answer_id": out["answer_id"],
                    "answer_ok": ok_a,
                    "honest_ok": ok_h,
                }
            )
    return {
        "cases": len(cases),
        "intent_accuracy": intent_ok / len(cases),
        "answer_accuracy": answer_ok / answer_n if answer_n else None,
        "answer_cases": answer_n,
        "honest_no_answer": honest / honest_n if honest_n else None,
        "no_answer_cases": honest_n,
        "misses": misses,
    }


def evaluate(cases: list[dict], strip: bool = False) -> dict:
    return score(cases, ask(cases, strip))


def parse_latency(texts: list[str], rounds: int = 5) -> dict:
    """p50 and p99 (ms) of the built-in engine's parse over `texts`, in this process."""
    from bot.config import load_settings
    from bot.content import load_items
    from nlu.engine import BuiltinEngine

    settings = load_settings(ROOT / "config.yml")
    items = load_items(settings.path(settings.content_dir))
    engine = BuiltinEngine.load(ROOT / "var" / "nlu" / "model.npz", items)
    for t in texts:  # warm the caches once
        engine.parse_sync(t)
    wall, cpu = [], []
    for _ in range(rounds):
        for t in texts:
            start, start_cpu = time.perf_counter(), time.thread_time()
            engine.parse_sync(t)
            cpu.append((time.thread_time() - start_cpu) * 1000)
            wall.append((time.perf_counter() - start) * 1000)

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * q))]

    return {
        "n": len(wall),
        "p50_ms": pct(wall, 0.5),
        "p99_ms": pct(wall, 0.99),
        "cpu_p50_ms": pct(cpu, 0.5),
        "cpu_p99_ms": pct(cpu, 0.99),
    }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown(results: dict, stripped: dict | None, latency: dict | None) -> str:
    """The evaluation section of docs/benchmarks.md."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lines = [
        f"Measured **{when}** on `{commit}` with `make eval` (`python -m benchmarks.eval "
        "--latency --write-doc`): every line through `python -m bot ask`, as the judge runs it.",
        "`dev.yml` is ../shared/eval/dev.yml (never copied into training data or content); the "
        "other sets are ours, in benchmarks/data/: questions no item covers (supports, prices, "
        "services, chit-chat: `no_answer: true`), follow-up pairs (`session`), story-like long "
        "messages, one- or two-word topics. Honest-no-answer: share of the `no_answer` cases "
        "that got no item's facts. Targets: honest-no-answer at least 0.97 and answer accuracy "
        "at least 0.95 on each set, the dev set at least 0.98, parse p99 under 2 ms.",
        "",
        "| set | cases | intent accuracy | answer accuracy (cases) | honest-no-answer (cases) |",
        "|---|---|---|---|---|",
    ]
    rows = list(results.items())
    if stripped:
        rows += [(f"{k} (diacritics stripped)", v) for k, v in stripped.items()]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['cases']} | {r['intent_accuracy']:.3f} | "
            f"{_fmt(r['answer_accuracy'])} ({r['answer_cases']}) | "
            f"{_fmt(r['honest_no_answer'])} ({r['no_answer_cases']}) |"
        )
    if latency:
        lines += [
            "",
            f"Parse in process over these sets' texts ({latency['n']} parses): "
            f"p50 {latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms wall; CPU time "
            f"p50 {latency['cpu_p50_ms']:.2f} ms, p99 {latency['cpu_p99_ms']:.2f} ms (wall time "
            "includes waiting for a core while other processes run).",
        ]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    """Put `section` between the eval markers of docs/benchmarks.md (added when missing)."""
    text = DOC.read_text(encoding="utf-8") if DOC.is_file() else "# Benchmarks\n"
    block = f"{EVAL_BEGIN}\n{section}\n{EVAL_END}"
    if EVAL_BEGIN in text and EVAL_END in text:
        a, b = text.index(EVAL_BEGIN), text.index(EVAL_END) + len(EVAL_END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Understanding: evaluation sets (`make eval`)\n\n"
        text += block + "\n"
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="*", help="evaluation sets (default: dev set + benchmarks/data)")
    ap.add_argument("--strip-diacritics", action="store_true")
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--latency", action="store_true", help="also time the parse in process")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--write-doc", action="store_true", help="also write the figures to docs/benchmarks.md"
    )
    args = ap.parse_args()
    paths = [Path(p) for p in args.paths] or [DEV_SET, *sorted(OWN_SETS.glob("*.yml"))]
    label = " (diacritics stripped)" if args.strip_diacritics else ""
    results, texts = {}, []
    for path in paths:
        cases = load_cases(path)
        texts += [str(c["text"]) for c in cases]
        results[path.name] = evaluate(cases, args.strip_diacritics)
    resolved = [p.resolve() for p in paths]
    latency = parse_latency(texts) if args.latency else None
    stripped = None
    if args.write_doc and not args.strip_diacritics and DEV_SET.resolve() in resolved:
        stripped = {DEV_SET.name: evaluate(load_cases(DEV_SET), True)}
    if args.json:
        print(json.dumps({"sets": results, "latency": latency}, ensure_ascii=False, indent=1))
        return 0
    shown = dict(results)
    if stripped:
        shown.update({f"{k} (diacritics stripped)": v for k, v in stripped.items()})
    for name, r in shown.items():
        print(
            f"{name}{label}: {r['cases']} cases, intent accuracy {r['intent_accuracy']:.3f}, "
            f"answer accuracy {_fmt(r['answer_accuracy'])} ({r['answer_cases']} with expect), "
            f"honest-no-answer {_fmt(r['honest_no_answer'])} ({r['no_answer_cases']} cases)"
        )
        if args.show_misses:
            for m in r["misses"]:
                print(
                    f"  {m['text']!r}: want {m['want']} got {m['got']} ({m['conf']}) "
                    f"answer={m['answer_id']} ok={m['answer_ok']} honest={m['honest_ok']}"
                    + (f" session={m['session']}" if m["session"] else "")
                )
    if args.write_doc:
        write_doc(markdown(results, stripped, latency))
    if latency:
        print(
            f"parse in process ({latency['n']} parses of these sets' texts): "
            f"p50 {latency['p50_ms']:.3f} ms, p99 {latency['p99_ms']:.3f} ms wall; "
            f"CPU time p50 {latency['cpu_p50_ms']:.3f} ms, p99 {latency['cpu_p99_ms']:.3f} ms "
            "(wall time includes waiting for a core on a busy machine)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
