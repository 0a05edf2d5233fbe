"""`make eval`: an evaluation set through `python -m bot ask`, scored as ../shared/eval/README.md
says.

intent accuracy: share of cases whose predicted intent equals `intent`; answer accuracy: share of
cases with `expect` whose reply text contains every entry (case, diacritics and repeated spaces
ignored; "a|b" accepts either). `--strip-diacritics` sends every message without diacritics.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from nlu.evaluate import expectations_met, load_cases
from nlu.normalize import strip_diacritics

ROOT = Path(__file__).resolve().parent.parent


def evaluate(cases: list[dict], strip: bool = False) -> dict:
    lines = [
        json.dumps(
            {
                "text": strip_diacritics(c["text"]) if strip else c["text"],
                "lang": c.get("lang", "vi"),
            },
            ensure_ascii=False,
        )
        for c in cases
    ]
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
    intent_ok, answer_ok, answer_n, misses = 0, 0, 0, []
    for case, out in zip(cases, outputs, strict=True):
        ok_i = out["intent"] == case["intent"]
        intent_ok += ok_i
        ok_a = True
        if case.get("expect"):
            answer_n += 1
            ok_a = expectations_met(case["expect"], "\n".join(out["replies"]))
            answer_ok += ok_a
        if not (ok_i and ok_a):
            misses.append(
                {
                    "text": case["text"],
                    "want": case["intent"],
                    "got": out["intent"],
                    "conf": out["confidence"],
                    "answer_id": out["answer_id"],
                    "answer_ok": ok_a,
                }
            )
    return {
        "cases": len(cases),
        "intent_accuracy": intent_ok / len(cases),
        "answer_accuracy": answer_ok / answer_n if answer_n else None,
        "answer_cases": answer_n,
        "misses": misses,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", nargs="?", default=str(ROOT.parent / "shared" / "eval" / "dev.yml"))
    ap.add_argument("--strip-diacritics", action="store_true")
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = evaluate(load_cases(args.path), args.strip_diacritics)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    label = " (diacritics stripped)" if args.strip_diacritics else ""
    print(
        f"{Path(args.path).name}{label}: {result['cases']} cases, "
        f"intent accuracy {result['intent_accuracy']:.3f}, "
        f"answer accuracy {result['answer_accuracy']:.3f} "
        f"({result['answer_cases']} cases with expect)"
    )
    if args.show_misses:
        for m in result["misses"]:
            print(
                f"  {m['text']!r}: want {m['want']} got {m['got']} ({m['conf']}) "
                f"answer={m['answer_id']} ok={m['answer_ok']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
