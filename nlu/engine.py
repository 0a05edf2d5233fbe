"""The built-in NLU engine the dialogue calls: intent classification plus FAQ retrieval.

`BuiltinEngine.load(model_path, documents)` reads the trained intent model (numpy only) and indexes
the content items (any `nlu.retrieval.Document`s); `parse(text, lang)` returns an `NluResult`: the
intent, its confidence, the closest content items, the item to answer with when retrieval is sure
enough, and whether the bot should rather say it did not understand. `train(data_paths, out)`
writes the model file. `NluEngine` is what the bot relies on; the Rasa backend
(`nlu.rasa_backend.RasaEngine`) is the other engine satisfying it.

How the two halves are combined (`Combiner`, shared by both engines so they differ in the
classifier alone):
- a close retrieval match is evidence for its item's intent: for the question intents
  (`nlu.intents.QUESTION_INTENTS`), the part of the best item's score above `retrieval_floor`
  (times `retrieval_weight`) is added to the classifier's probability before the intent is
  chosen, so "quế trà bồng" is a product question even when the classifier hesitates, while a
  classifier sure of "subscribe" is not overruled by an item that explains subscribing;
- for an intent answered from content (`ANSWER_INTENTS`), the answer is that intent's best item
  if its score reaches `answer_threshold`;
- `out_of_scope` never carries an answer; a message with no word the model knows, a confidence
  under `intent_threshold` (unless the answer scores `strong_threshold`), or a policy/product
  question without an answer is `low_confidence`: the bot says it did not understand and offers
  the candidates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nlu.intents import ANSWER_EXPECTED, ANSWER_INTENTS, NEVER_ANSWERED, QUESTION_INTENTS
from nlu.model import FitOptions, IntentModel, ModelError, Prediction, fit
from nlu.normalize import Normalized, Normalizer
from nlu.rasa_format import load_paths
from nlu.retrieval import Document, Retriever

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path("var/nlu/model.npz")
DEFAULT_DATA = Path("nlu/data")

__all__ = [
    "BuiltinEngine",
    "Candidate",
    "Combiner",
    "Document",
    "ModelError",
    "NluEngine",
    "NluResult",
    "TrainReport",
    "train",
]


@dataclass(frozen=True)
class Candidate:
    item_id: str
    score: float


@dataclass(frozen=True)
class NluResult:
    intent: str  # one of nlu.intents.INTENTS
    confidence: float  # 0..1
    candidates: tuple[Candidate, ...]  # ranked content items (top 5): answers, fallback buttons
    answer_id: str | None  # the item to answer with when retrieval is confident, else None
    low_confidence: bool  # True -> bot says it did not understand, offers candidates + a person
    normalized: str = ""


class NluEngine(Protocol):
    """What the bot needs of an NLU engine: `BuiltinEngine` and `RasaEngine` both are one."""

    async def parse(self, text: str, lang: str) -> NluResult: ...


class Combiner:
    """Joins an intent classifier's `Prediction` with retrieval over the content into an
    `NluResult`. The prediction is an argument, never state: engines that wait for theirs (Rasa)
    may combine several messages at once."""

    def __init__(
        self,
        retriever: Retriever,
        *,
        intent_threshold: float = 0.45,
        answer_threshold: float = 0.3,
        strong_threshold: float = 0.6,
        retrieval_weight: float = 1.0,
        retrieval_floor: float = 0.4,
    ) -> None:
        self.retriever = retriever
        self.intent_threshold = intent_threshold
        self.answer_threshold = answer_threshold
        self.strong_threshold = max(strong_threshold, answer_threshold)
        self.retrieval_weight = retrieval_weight
        self.retrieval_floor = retrieval_floor

    def combine(self, norm: Normalized, pred: Prediction) -> NluResult:
        """The result for the message `norm` (not empty) given the classifier's `pred`."""
        scores = self.retriever.scores(norm)
        candidates = tuple(
            Candidate(h.item_id, round(h.score, 4)) for h in self.retriever.top(scores, 5)
        )
        best = self.retriever.best_per_intent(scores)

        # A close match to an item is evidence for the item's intent: it is added to the
        # classifier's probability for the question intents, above a floor that ordinary overlap
        # stays under.
        combined = dict(pred.ranking)
        for name in QUESTION_INTENTS:
            h = best.get(name)
            if h is not None and h.score > self.retrieval_floor and name in combined:
                combined[name] += self.retrieval_weight * (h.score - self.retrieval_floor)
        intent = max(combined, key=combined.__getitem__)
        confidence = min(1.0, combined[intent])

        answer = best.get(intent) if intent in ANSWER_INTENTS else None
        if answer is not None and answer.score < self.answer_threshold:
            answer = None
        if intent in NEVER_ANSWERED:
            answer = None
        sure = confidence >= self.intent_threshold or (
            answer is not None and answer.score >= self.strong_threshold
        )
        low = not sure or pred.known == 0.0 or (intent in ANSWER_EXPECTED and answer is None)
        return NluResult(
            intent=intent,
            confidence=round(float(confidence), 4),
            candidates=candidates,
            answer_id=answer.item_id if answer is not None else None,
            low_confidence=low,
            normalized=norm.text,
        )


class BuiltinEngine:
    """Intent model + retrieval index over the content, with the rules that join them."""

    def __init__(
        self,
        model: IntentModel,
        retriever: Retriever,
        *,
        intent_threshold: float = 0.45,
        answer_threshold: float = 0.3,
        strong_threshold: float = 0.6,
        retrieval_weight: float = 1.0,
        retrieval_floor: float = 0.4,
    ) -> None:
        self.model = model
        self.retriever = retriever
        self.normalizer = model.normalizer
        self.combiner = Combiner(
            retriever,
            intent_threshold=intent_threshold,
            answer_threshold=answer_threshold,
            strong_threshold=strong_threshold,
            retrieval_weight=retrieval_weight,
            retrieval_floor=retrieval_floor,
        )

    @classmethod
    def load(
        cls,
        model_path: str | Path,
        documents: Iterable[Document],
        *,
        intent_threshold: float = 0.45,
        answer_threshold: float = 0.3,
        strong_threshold: float = 0.6,
        tables_dir: str | Path | None = None,
    ) -> BuiltinEngine:
        """Load the model file and index `documents`. A missing model raises `ModelError`."""
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(
                f"NLU model file {path} not found; train it with `python -m bot nlu train` "
                "(or `make setup`)"
            )
        model = IntentModel.load(path, Normalizer.from_tables(tables_dir))
        if not model.tables_current:
            log.warning(
                "NLU model %s was trained with other abbreviation/dialect tables; "
                "retrain with `python -m bot nlu train`",
                path,
            )
        retriever = Retriever.from_documents(documents, model.normalizer)
        return cls(
            model,
            retriever,
            intent_threshold=intent_threshold,
            answer_threshold=answer_threshold,
            strong_threshold=strong_threshold,
        )

    async def parse(self, text: str, lang: str = "vi") -> NluResult:
        # Well under a millisecond of numpy: cheaper to run inline than to hand to a thread.
        return self.parse_sync(text, lang)

    def parse_sync(self, text: str, lang: str = "vi") -> NluResult:
        norm = self.normalizer(text or "")
        if not norm:
            return NluResult("out_of_scope", 0.0, (), None, True, "")
        return self.combiner.combine(norm, self.model.predict_norm(norm))


@dataclass(frozen=True)
class TrainReport:
    path: Path
    examples: int
    intents: dict[str, int]
    features: int
    seconds: float
    size_bytes: int
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"trained {self.path}: {self.examples} examples, {len(self.intents)} intents, "
            f"{self.features} features, {self.size_bytes / 1e6:.2f} MB, {self.seconds:.1f} s"
        )


def train(
    data_paths: Iterable[str | Path],
    out: str | Path,
    *,
    tables_dir: str | Path | None = None,
    options: FitOptions | None = None,
) -> TrainReport:
    """Train the intent model on Rasa NLU files/directories and write it to `out`."""
    started = time.perf_counter()
    data = load_paths(list(data_paths))
    model = fit(data, Normalizer.from_tables(tables_dir), options)
    size = model.save(out)
    return TrainReport(
        path=Path(out),
        examples=len(data.examples),
        intents=data.counts(),
        features=len(model.hashes),
        seconds=round(time.perf_counter() - started, 3),
        size_bytes=size,
        files=data.files,
        warnings=data.warnings,
    )
