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
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from nlu.grounding import Generic, Grounder, idf_table
from nlu.intents import (
    ANSWER_EXPECTED,
    ANSWER_INTENTS,
    NEVER_ANSWERED,
    QUESTION_INTENTS,
    TOPIC_SHARING,
)
from nlu.model import FitOptions, IntentModel, ModelError, Prediction, fit
from nlu.normalize import Normalized, Normalizer
from nlu.rasa_format import load_paths
from nlu.retrieval import Document, Hit, Retriever

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path("var/nlu/model.npz")
DEFAULT_DATA = Path("nlu/data")
# Share of what a message asks for (its content words, idf-weighted) an item must cover to answer.
GROUND_THRESHOLD = 0.55
# A follow-up is short: longer messages are read on their own.
FOLLOW_UP_MAX_TOKENS = 8
_CLAUSE_RE = re.compile(r"[,.;:!?\n]")
# Intents a short message is still read as a follow-up from ("ai được" is no help request).
FOLLOW_UP_OVER = ("help", "out_of_scope")
# How sure a request must be to stand against a follow-up whose words are all the previous item's.
FOLLOW_UP_REQUEST_SURE = 0.9
# Share of `answer_threshold` an item that covers nearly all of the question may score.
LOOSE_ANSWER = 0.6
LOOSE_COVERAGE = 0.7  # ... when it covers this much of what is asked
CLOSE_MATCH = 0.6  # a grounded item within this share of the best score competes by coverage

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
    # A question for the content (policy, product, training) that no item covers: the bot says
    # it has no information on that yet, offers the closest topics and a person, and records it.
    gap: bool = False
    followup: bool = False  # answered as a follow-up of the `previous` item given to `parse`
    coverage: float | None = None  # how much of what is asked the answer item covers (0..1)


class NluEngine(Protocol):
    """What the bot needs of an NLU engine: `BuiltinEngine` and `RasaEngine` both are one."""

    async def parse(self, text: str, lang: str, previous: str | None = None) -> NluResult:
        """`previous`: the item the bot answered last in this conversation, if recent, so a
        short follow-up ("bao nhiêu", "vậy giấy tờ gì") is read against it."""
        ...


# Question words and closing particles (folded): a message with one asks something.
_ASKING_END = frozenset("khong ko k chua ha hong nhi a sao gi nao dau".split())
_ASKING = (
    ("bao", "nhieu"),
    ("bao", "gio"),
    ("bao", "lau"),
    ("khi", "nao"),
    ("o", "dau"),
    ("the", "nao"),
    ("lam", "sao"),
)
# How likely the best question intent must be, as second reading of a question form. No feedback
# example is in question form, so a question read as a complaint got there on shared topic words
# ("tiền điện", "lũ"). Measured on messages written for the purpose: complaints in question form
# ("cầu treo bị gãy, có ai đến sửa không") give the question intents 0.003-0.015; questions the
# complaints' words pulled away ("điện tăng giá quá, xã có giúp dân không") 0.09-0.12.
QUESTION_SECOND_READING = 0.08


def asks(norm: Normalized) -> bool:
    """Whether the message is in question form: a question mark, a closing question particle
    ("... không", "... chưa"), or a question phrase ("bao nhiêu", "ở đâu")."""
    f = norm.folded
    if "?" in norm.raw or (f and f[-1] in _ASKING_END):
        return True
    pairs = set(zip(f, f[1:], strict=False))
    return any(p in pairs for p in _ASKING)


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
        ground_threshold: float = GROUND_THRESHOLD,
        generic: Generic | None = None,
    ) -> None:
        self.retriever = retriever
        self.intent_threshold = intent_threshold
        self.answer_threshold = answer_threshold
        self.strong_threshold = max(strong_threshold, answer_threshold)
        self.retrieval_weight = retrieval_weight
        self.retrieval_floor = retrieval_floor
        self.ground_threshold = ground_threshold
        self.grounder = Grounder(
            retriever.vocab,
            idf_table(retriever.vocab),
            generic or Generic.load(),
            protect=retriever.keyword_spans,
            pairs=retriever.pairs,
        )
        self._index = {item_id: i for i, item_id in enumerate(retriever.ids)}

    def clause_start(self, norm: Normalized) -> int | None:
        """Token position where the message's last clause (after its last comma, full stop,
        question mark...) begins; None for a message of one clause."""
        raw = norm.raw.rstrip(" \t\n,.;:!?")
        pieces = _CLAUSE_RE.split(raw)
        if len(pieces) < 2:
            return None
        # The question is the last clause that names something ("..., nghe nói có tiền hỗ trợ
        # xây nhà, được bao nhiêu vậy": "xây nhà"), not a closing "được bao nhiêu vậy".
        start = len(norm.folded)
        for piece in reversed(pieces[1:]):
            start -= len(self.retriever.normalize(piece).folded)
            if start <= 0:
                return None
            if self.grounder.positions(norm.folded[start:]):
                return start
        return None

    def grounded(
        self, norm: Normalized, item_id: str, clause: int | None = None
    ) -> tuple[bool, float]:
        """Whether item `item_id` covers what the message asks for, and the coverage."""
        cov = self.grounder.coverage(norm.folded, self._index[item_id], clause_start=clause)
        return cov.share >= self.ground_threshold and cov.head, cov.share

    def _grounded_answer(
        self, norm: Normalized, scores, intent: str, clause: int | None
    ) -> tuple[str | None, float | None]:
        """The best-scoring item of `intent` (among its 3 best above `answer_threshold`) that
        covers what the message asks for, with its coverage."""
        best_cov = None
        if self.ground_threshold <= 0:  # grounding off: the best item above the threshold
            hits = self.retriever.rank_scores(scores, 1, (intent,))
            if hits and hits[0].score >= self.answer_threshold:
                return hits[0].item_id, None
            return None, None
        chosen: tuple[float, str, float] | None = None
        top = None
        for hit in self.retriever.rank_scores(scores, 3, (intent,)):
            if hit.score < LOOSE_ANSWER * self.answer_threshold:
                break
            top = top or hit.score
            ok, cov = self.grounded(norm, hit.item_id, clause)
            best_cov = cov if best_cov is None else max(best_cov, cov)
            # A weaker match is enough when the item covers nearly all that is asked (a story's
            # many other words dilute the match, not the grounding).
            if ok and (hit.score >= self.answer_threshold or cov >= LOOSE_COVERAGE):
                # Among close matches, the one that covers more of the question wins.
                rank = cov if hit.score >= CLOSE_MATCH * top else -1.0
                if chosen is None or rank > chosen[0]:
                    chosen = (rank, hit.item_id, cov)
        if chosen is not None:
            return chosen[1], chosen[2]
        return None, best_cov

    def combine(
        self,
        norm: Normalized,
        pred: Prediction,
        previous: str | None = None,
        clause: int | None | bool = False,
    ) -> NluResult:
        """The result for the message `norm` (not empty) given the classifier's `pred`;
        `previous`: the item answered last in the conversation, if recent (follow-ups);
        `clause`: `clause_start(norm)` when the caller has it already."""
        scores = self.retriever.scores(norm)
        if clause is False:
            clause = self.clause_start(norm)
        if clause is not None and scores.max(initial=0.0) < self.strong_threshold:
            # A story dilutes the match of its question: the question clause alone counts too.
            part = Normalized(norm.raw, norm.tokens[clause:], norm.folded[clause:])
            scores = np.maximum(scores, self.retriever.scores(part))
        result = self._combine(norm, pred, scores, clause)
        if previous is not None and previous in self._index:
            follow = self._follow_up(norm, scores, result, previous)
            if follow is not None:
                return follow
        return result

    def _combine(self, norm: Normalized, pred: Prediction, scores, clause: int | None) -> NluResult:
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
        topic = self._topic_name(norm, best)
        if topic is not None and (
            intent in TOPIC_SHARING
            or (intent not in QUESTION_INTENTS and confidence < self.strong_threshold)
        ):
            # A message that is nothing but the name of an item's topic ("nước sạch", "học
            # phí") asks about that topic, whatever words complaints share with it.
            intent, confidence = topic.intent, max(confidence, topic.score)
        elif intent in TOPIC_SHARING and asks(norm):
            # A question ("... có được bồi thường không") that feedback examples' words pulled
            # to a complaint: when a policy question is a real second reading, it is one. A
            # wrong question reading costs an honest "no information yet" and a person; a
            # wrong complaint reading opens a form.
            runner = max(QUESTION_INTENTS, key=lambda i: combined.get(i, 0.0))
            if combined.get(runner, 0.0) >= QUESTION_SECOND_READING:
                intent, confidence = runner, max(combined[runner], self.intent_threshold)

        answer = best.get(intent) if intent in ANSWER_INTENTS else None
        if answer is not None and answer.score < self.answer_threshold:
            answer = None
        if intent in NEVER_ANSWERED:
            answer = None
        answer_id = answer.item_id if answer is not None else None
        coverage = None
        if intent in QUESTION_INTENTS:
            # Grounding: the item must cover the thing asked for; confidence is not the test.
            answer_id, coverage = self._grounded_answer(norm, scores, intent, clause)
            if answer_id is not None:
                answer = Hit(answer_id, intent, float(scores[self._index[answer_id]]))
            else:
                answer = None
        sure = confidence >= self.intent_threshold or (
            answer is not None and answer.score >= self.strong_threshold
        )
        low = not sure or pred.known == 0.0 or (intent in ANSWER_EXPECTED and answer is None)
        gap = (
            intent in QUESTION_INTENTS
            and answer is None
            and confidence >= self.intent_threshold
            and pred.known >= 0.5
            and bool(self.grounder.content(norm.folded))
        )
        if low and not gap and answer is None:
            # Unsure, but in question form with known words and a question reading close
            # enough ("lương hưu của bà bao giờ mới có"): the honest reply is that there is no
            # information on it, with the closest topics and a person, not "I did not
            # understand".
            runner = max(QUESTION_INTENTS, key=lambda i: combined.get(i, 0.0))
            if (
                combined.get(runner, 0.0) >= QUESTION_SECOND_READING
                and pred.known >= 0.5
                and asks(norm)
                and self.grounder.content(norm.folded)
            ):
                intent, gap = runner, True
        return NluResult(
            intent=intent,
            confidence=round(float(confidence), 4),
            candidates=candidates,
            answer_id=answer_id,
            low_confidence=low or gap,
            normalized=norm.text,
            gap=gap,
            coverage=coverage,
        )

    def _topic_name(self, norm: Normalized, best: dict[str, Hit]) -> Hit | None:
        """The question item whose keyword is the whole message, generic words aside."""
        content = self.grounder.content(norm.folded)
        if not content or len(content) > 3:
            return None
        positions = self.grounder.positions(norm.folded)
        hits = [best[i] for i in QUESTION_INTENTS if i in best]
        for hit in sorted(hits, key=lambda h: -h.score):
            if hit.score < self.strong_threshold:
                continue
            inside = self.retriever.keyword_positions(norm.folded, self._index[hit.item_id], 1)
            if all(p in inside for p in positions):
                return hit
        return None

    def _follow_up(
        self, norm: Normalized, scores, result: NluResult, previous: str
    ) -> NluResult | None:
        """A short message read against the item answered just before, or None when it stands
        on its own: it names a thing of its own ("còn nước sạch thì sao"), or it is a clear
        request of another kind (thanks, a person)."""
        if len(norm.folded) > FOLLOW_UP_MAX_TOKENS:
            return None
        prev = self._index[previous]
        cov = self.grounder.coverage(norm.folded, prev)
        if result.intent not in (*QUESTION_INTENTS, *FOLLOW_UP_OVER):
            # A clear request of its own (thanks, a person, a form) stands, unless everything
            # it names is the previous item's and it is not sure: "đăng ký thế nào" after the
            # OCOP answer registers a product, not for notices.
            about_previous = bool(cov.content) and not cov.uncovered
            if (
                not result.low_confidence
                and result.confidence >= self.strong_threshold
                and (not about_previous or result.confidence >= FOLLOW_UP_REQUEST_SURE)
            ):
                return None
        # Words of its own: what the previous item does not cover ("còn nước sạch thì sao").
        own = cov.uncovered
        vocab = self.retriever.vocab[prev]
        foreign = [w for w in own if w not in vocab]  # words the previous item never uses
        if own and result.answer_id is not None:
            return None  # it names its own thing, and that is answered
        title = self.retriever.titles[prev]
        if title is None:
            return None
        joined = Normalized(
            f"{title.raw} {norm.raw}", title.tokens + norm.tokens, title.folded + norm.folded
        )
        mixed = 0.5 * scores + 0.5 * self.retriever.scores(joined)
        choice = None
        for hit in self.retriever.rank_scores(mixed, 3, QUESTION_INTENTS):
            # The previous item answers an aspect of itself ("bao nhiêu", "ai được"); any item
            # (the previous one too) answers what the message alone names and it covers.
            alone = scores[self._index[hit.item_id]] >= self.answer_threshold
            if (hit.item_id == previous and not foreign) or (
                alone and self.grounded(norm, hit.item_id)[0]
            ):
                choice = hit.item_id
                break
        if choice is None:
            if own:
                return None
            choice = previous
        i = self._index[choice]
        intent = self.retriever.intents[i]
        return NluResult(
            intent=intent,
            confidence=round(float(max(mixed[i], self.intent_threshold)), 4),
            candidates=result.candidates,
            answer_id=choice,
            low_confidence=False,
            normalized=norm.text,
            followup=True,
            coverage=1.0,
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
        ground_threshold: float = GROUND_THRESHOLD,
        generic: Generic | None = None,
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
            ground_threshold=ground_threshold,
            generic=generic,
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
        ground_threshold: float = GROUND_THRESHOLD,
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
            ground_threshold=ground_threshold,
            generic=Generic.load(tables_dir),
        )

    async def parse(self, text: str, lang: str = "vi", previous: str | None = None) -> NluResult:
        # Well under a millisecond of numpy: cheaper to run inline than to hand to a thread.
        return self.parse_sync(text, lang, previous)

    def parse_sync(self, text: str, lang: str = "vi", previous: str | None = None) -> NluResult:
        norm = self.normalizer(text or "")
        if not norm:
            return NluResult("out_of_scope", 0.0, (), None, True, "")
        pred = self.model.predict_norm(norm)
        clause = self.combiner.clause_start(norm)
        if clause is not None and not (
            pred.intent in QUESTION_INTENTS and pred.confidence >= self.combiner.strong_threshold
        ):
            # A story before the question: what the question clause asks weighs as much as the
            # whole story ("... nhà sập rồi, nhà nước có giúp làm lại không"), unless the whole
            # is clearly a question already.
            part = Normalized(norm.raw, norm.tokens[clause:], norm.folded[clause:])
            pred = mix(pred, self.model.predict_norm(part))
        return self.combiner.combine(norm, pred, previous, clause)


def mix(a: Prediction, b: Prediction) -> Prediction:
    """The mean of two predictions over the same labels (`known` from `a`, the whole message)."""
    p = dict(a.ranking)
    for label, q in b.ranking:
        p[label] = (p.get(label, 0.0) + q) / 2
    ranking = tuple(sorted(p.items(), key=lambda kv: -kv[1]))
    return Prediction(ranking[0][0], ranking[0][1], a.known, ranking)


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
