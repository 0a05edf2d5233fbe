"""`python -m bot content check`: validate content, find duplicated questions, show coverage.

Prints every problem (file, item, what to fix), example questions that appear in two items, items
past their review date or marked `needs_review`, and translation coverage per language for content
items and UI strings, so the province knows what to give its translators. Exit 1 on any error.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

from bot.content import Content, Problem, load_content
from bot.i18n import LANGUAGES, coverage

REVIEW_EVERY = timedelta(days=365)


def _fold(text: str) -> str:
    from nlu.normalize import fold

    return " ".join(fold(text).lower().split())


def duplicate_questions(content: Content) -> list[Problem]:
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item in content.items:
        for q in item.questions:
            seen[_fold(q)].append((item.id, item.file))
    out = []
    for q, where in sorted(seen.items()):
        ids = sorted({i for i, _ in where})
        if len(ids) > 1:
            out.append(
                Problem(
                    where[0][1],
                    f"items {', '.join(ids)}",
                    f"example question {q!r} appears in more than one item; keep it in one",
                )
            )
    return out


def run_check(root: Path, locales_dir: Path, out: TextIO) -> int:
    content = load_content(root)
    from bot.flows.forms.schema import load_forms

    forms = load_forms(root)  # content/forms/*.yml and the lists their choices come from
    problems = list(content.problems) + duplicate_questions(content) + forms.problems
    today = date.today()
    for item in content.items:
        if item.reviewed + REVIEW_EVERY < today:
            problems.append(
                Problem(
                    item.file,
                    f"item {item.id}",
                    f"last reviewed {item.reviewed}; review it again",
                    "warning",
                )
            )
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    for p in errors + warnings:
        out.write(f"{p}\n")
    n = len(content.items)
    out.write(
        f"\n{n} items in {len({i.file for i in content.items})} files, {len(content.areas)} areas\n"
    )
    out.write(f"{len(forms.forms)} forms: {', '.join(sorted(forms.forms)) or 'none'}\n")
    by_intent: dict[str, int] = defaultdict(int)
    for item in content.items:
        by_intent[item.intent] += 1
    out.write(
        "items per intent: " + ", ".join(f"{k} {v}" for k, v in sorted(by_intent.items())) + "\n"
    )
    review = [i.id for i in content.items if i.needs_review]
    out.write(f"needs_review (to confirm with the province before going live): {len(review)}\n")
    for i in review:
        out.write(f"  - {i}\n")
    ui = coverage(locales_dir)
    out.write("\ntranslation coverage      items (text or audio)    UI strings\n")
    for lang in LANGUAGES:
        text = sum(1 for i in content.items if lang in i.answer)
        audio = sum(1 for i in content.items if lang in i.media and "voice" in i.media[lang])
        done, total = ui.get(lang, (0, 0))
        items_cov = f"{text}/{n} text, {audio} audio"
        pct = f"{(100 * done / total):.0f}%" if total else "no catalog"
        out.write(f"  {lang:4} {LANGUAGES[lang]:12} {items_cov:24} {done}/{total} ({pct})\n")
    out.write(f"\n{len(errors)} errors, {len(warnings)} warnings\n")
    return 1 if errors else 0
