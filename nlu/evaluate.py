"""Measuring the NLU: per-intent precision/recall/F1, cross-validation, and evaluation-set runs.

`intent_report` scores predictions against labels (numpy only). `cross_validate` trains on k-1
folds and predicts the k-th, stratified by intent, when no separate model is given. `run_cases`
runs an evaluation set in the `shared/eval` format (`cases: [{text, lang, intent, expect}]`) through
the engine and scores intent accuracy and answer accuracy (every `expect` entry, or one of its
`a|b` alternatives, appears in the answer item's text, ignoring case, diacritics and spacing).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nlu.normalize import Normalizer, fold, strip_diacritics
from nlu.rasa_format import TrainingData

if TYPE_CHECKING:
    from nlu.engine import BuiltinEngine
    from nlu.model import FitOptions
    from nlu.retrieval import Document


def intent_report(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro F1, per-intent precision/recall/F1/support and the confused pairs."""
    labels = sorted(set(y_true) | set(y_pred))
    pairs = Counter(zip(y_true, y_pred, strict=True))
    per: dict[str, dict[str, float]] = {}
    for lab in labels:
        tp = pairs[(lab, lab)]
        predicted = sum(c for (t, p), c in pairs.items() if p == lab)
        support = sum(c for (t, p), c in pairs.items() if t == lab)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[lab] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    with_support = [v for v in per.values() if v["support"]]
    confused = sorted(
        ({"true": t, "predicted": p, "count": c} for (t, p), c in pairs.items() if t != p),
        key=lambda d: (-d["count"], d["true"], d["predicted"]),
    )
    n = len(y_true)
    return {
        "examples": n,
        "accuracy": sum(pairs[(lab, lab)] for lab in labels) / n if n else 0.0,
        "macro_f1": sum(v["f1"] for v in with_support) / len(with_support) if with_support else 0.0,
        "intents": per,
        "confused": confused,
    }


def format_report(report: dict[str, Any], max_confused: int = 15) -> str:
    """The report as a fixed-width table, then the most frequent confusions."""
    width = max([len("intent"), *(len(k) for k in report["intents"])])
    lines = [f"{'intent':<{width}}  precision  recall     f1  support"]
    for lab, v in report["intents"].items():
        lines.append(
            f"{lab:<{width}}  {v['precision']:9.3f}  {v['recall']:6.3f}  "
            f"{v['f1']:5.3f}  {v['support']:7d}"
        )
    lines.append(
        f"accuracy {report['accuracy']:.3f}   macro F1 {report['macro_f1']:.3f}   "
        f"examples {report['examples']}"
    )
    if report["confused"]:
        lines.append("confused (true -> predicted):")
        for c in report["confused"][:max_confused]:
            lines.append(f"  {c['count']:4d}  {c['true']} -> {c['predicted']}")
    return "\n".join(lines)


def stratified_folds(intents: Sequence[str], k: int, seed: int = 0) -> list[int]:
    """A fold number per example, each intent spread evenly over the folds."""
    rng = random.Random(seed)
    by_intent: dict[str, list[int]] = {}
    for i, lab in enumerate(intents):
        by_intent.setdefault(lab, []).append(i)
    fold_of = [0] * len(intents)
    offset = 0
    for lab in sorted(by_intent):
        idx = by_intent[lab]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            fold_of[i] = (offset + j) % k
        offset += len(idx)
    return fold_of


def cross_validate(
    data: TrainingData,
    k: int = 5,
    *,
    normalizer: Normalizer | None = None,
    options: FitOptions | None = None,
    seed: int = 0,
    strip: bool = False,
) -> tuple[list[str], list[str], list[str]]:
    """(texts, true intents, predicted intents) of k-fold cross-validation. With `strip`, the
    held-out texts are tested as typed without diacritics."""
    from nlu.model import fit

    examples = data.examples
    folds = stratified_folds([e.intent for e in examples], k, seed)
    texts = [strip_diacritics(e.text) if strip else e.text for e in examples]
    pred: list[str] = [""] * len(examples)
    for f in range(k):
        train = TrainingData(
            examples=[e for e, g in zip(examples, folds, strict=True) if g != f],
            synonyms=data.synonyms,
            regexes=data.regexes,
            lookups=data.lookups,
        )
        test = [i for i, g in enumerate(folds) if g == f]
        if not test or not train.examples:
            continue
        model = fit(train, normalizer, options)
        for i in test:
            pred[i] = model.predict(texts[i]).intent
    return texts, [e.intent for e in examples], pred


# -- evaluation sets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    text: str
    lang: str
    intent: str
    predicted: str
    confidence: float
    answer_id: str | None
    expect: tuple[str, ...]
    answer_ok: bool | None  # None when the case expects no answer text

    @property
    def intent_ok(self) -> bool:
        return self.intent == self.predicted


def _loose(text: str) -> str:
    return re.sub(r"\s+", " ", fold(text).lower()).strip()


def expectations_met(expect: Sequence[str], reply: str) -> bool:
    """Every entry appears in `reply` (case, diacritics and spacing ignored); "a|b" means either."""
    have = _loose(reply)
    return all(any(_loose(alt) in have for alt in entry.split("|")) for entry in expect)


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list):
        raise ValueError(f"{path}: expected a top-level `cases:` list")
    return cases


def run_cases(
    engine: BuiltinEngine,
    cases: Sequence[dict[str, Any]],
    documents: Iterable[Document],
    *,
    strip: bool = False,
) -> list[CaseResult]:
    """Run each case through `engine`; answers are looked up among `documents` by id."""
    items = {d.id: d for d in documents}
    out: list[CaseResult] = []
    for case in cases:
        text = str(case["text"])
        if strip:
            text = strip_diacritics(text)
        lang = str(case.get("lang", "vi"))
        result = engine.parse_sync(text, lang)
        expect = tuple(str(e) for e in case.get("expect") or ())
        answer_ok = None
        if expect:
            item = items.get(result.answer_id) if result.answer_id else None
            # The bot's reply: the answer in the case's language, else Vietnamese, and its source.
            reply = f"{item.answer.get(lang) or item.answer['vi']}\n{item.source}" if item else ""
            answer_ok = bool(item) and expectations_met(expect, reply)
        out.append(
            CaseResult(
                text,
                lang,
                str(case.get("intent", "")),
                result.intent,
                result.confidence,
                result.answer_id,
                expect,
                answer_ok,
            )
        )
    return out


def case_summary(results: Sequence[CaseResult]) -> dict[str, Any]:
    answered = [r for r in results if r.answer_ok is not None]
    return {
        "cases": len(results),
        "intent_accuracy": sum(r.intent_ok for r in results) / len(results) if results else 0.0,
        "answer_cases": len(answered),
        "answer_accuracy": sum(bool(r.answer_ok) for r in answered) / len(answered)
        if answered
        else 0.0,
    }
