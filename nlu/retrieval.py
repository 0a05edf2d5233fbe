"""FAQ retrieval: which content items a message is asking about, each with a score in [0, 1].

The index is built when content is loaded (no training): every item's questions and titles are
normalised like messages and turned into TF-IDF vectors over folded words, word pairs and character
n-grams, with document frequencies counted per item so that words every item shares ("hỗ trợ",
"là gì") weigh little. An item scores by its closest question or title, raised when one of its
keywords appears whole in the message. Numbers are facts, not decoration: "dự án 9" must not match
"dự án 1", so an item whose text pairs the same word with other numbers only is pushed down.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from nlu.normalize import Normalized

GROUPS = ("w", "b", "c")  # folded words, word pairs, character 3-5-grams


class Document(Protocol):
    """What the NLU reads of a content item. The bot's `Item` is one; the NLU never imports the
    bot's content model, so it can index any such items."""

    @property
    def id(self) -> str: ...
    @property
    def intent(self) -> str: ...
    @property
    def title(self) -> Mapping[str, str]: ...  # language -> title
    @property
    def questions(self) -> Sequence[str]: ...
    @property
    def keywords(self) -> Sequence[str]: ...
    @property
    def answer(self) -> Mapping[str, str]: ...  # language -> answer text, "vi" always present
    @property
    def source(self) -> str: ...  # where the answer's facts come from, shown with it


@dataclass(frozen=True)
class RetrievalParams:
    """Weights of the score; `mix` sums to 1 and everything stays in [0, 1]."""

    mix: tuple[float, float, float] = (0.45, 0.2, 0.35)  # words, word pairs, characters
    profile: float = (
        0.8  # share of the whole item's profile (all its texts) against its closest text
    )
    answer: bool = True  # the answer text joins the item's profile
    keyword: float = 0.6  # how far a keyword covering the whole message lifts an item towards 1
    number_match: float = 0.15  # lift when the message's number appears with the same word
    number_mismatch: float = 0.45  # factor when the item pairs that word with other numbers only


@dataclass(frozen=True)
class Hit:
    item_id: str
    intent: str
    score: float


def _is_number(tok: str) -> bool:
    return tok[:1].isdigit()


def _anchors(folded: tuple[str, ...]) -> set[tuple[str, str]]:
    """(word before, number) pairs: "du an 9" -> {("an", "9")}."""
    return {(folded[i - 1] if i else "", t) for i, t in enumerate(folded) if _is_number(t)}


@lru_cache(maxsize=1 << 15)
def _char_grams(tok: str) -> tuple[str, ...]:
    """The character 3-5-grams of one word, padded with spaces (the same words recur)."""
    padded = f" {tok} "
    return tuple(padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1))


def _features(norm: Normalized) -> dict[str, Counter[str]]:
    f = norm.folded
    grams: list[str] = []
    for tok in f:
        grams.extend(_char_grams(tok))
    return {
        "w": Counter(f),
        "b": Counter(f"{a} {b}" for a, b in zip(f, f[1:], strict=False)),
        "c": Counter(grams),
    }


class _Group:
    """One feature group's postings: for each feature, the documents holding it and their
    weights."""

    def __init__(self, docs: list[Counter[str]], doc_item: np.ndarray, n_items: int) -> None:
        item_df: Counter[str] = Counter()
        for item in range(n_items):
            seen: set[str] = set()
            for d in np.flatnonzero(doc_item == item):
                seen.update(docs[d])
            item_df.update(seen)
        self.idf = {t: math.log((n_items + 1) / (df + 0.5)) for t, df in item_df.items()}
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for d, counts in enumerate(docs):
            weights = {t: (1 + math.log(c)) * self.idf[t] for t, c in counts.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for t, w in weights.items():
                ids, ws = postings.setdefault(t, ([], []))
                ids.append(d)
                ws.append(w / norm)
        self.postings = {
            t: (np.array(i, dtype=np.int32), np.array(w, dtype=np.float32))
            for t, (i, w) in postings.items()
        }
        self.n_docs = len(docs)

    def cosine(self, counts: Counter[str]) -> np.ndarray:
        weights = {t: (1 + math.log(c)) * self.idf[t] for t, c in counts.items() if t in self.idf}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        if not norm:
            return np.zeros(self.n_docs)
        ids, ws = [], []
        for t, w in weights.items():
            i, p = self.postings[t]
            ids.append(i)
            ws.append(p * (w / norm))
        return np.bincount(np.concatenate(ids), np.concatenate(ws), minlength=self.n_docs)


class Retriever:
    """Ranks content items for a message. Build it from `Document`s with `from_documents`."""

    def __init__(
        self,
        items: Iterable[
            tuple[str, str, Iterable[str], Iterable[str]]
            | tuple[str, str, Iterable[str], Iterable[str], str]
        ],
        normalize: Callable[[str], Normalized],
        params: RetrievalParams | None = None,
    ) -> None:
        """`items`: (id, intent, texts (questions and titles), keywords[, answer]) for each item."""
        self.params = p = params or RetrievalParams()
        self.ids: list[str] = []
        self.intents: list[str] = []
        docs: list[dict[str, Counter[str]]] = []
        doc_item: list[int] = []
        profiles: list[dict[str, Counter[str]]] = []
        self.keywords: list[list[tuple[str, ...]]] = []
        self.anchors: list[set[tuple[str, str]]] = []
        # Every folded word of each item (texts, keywords, answer): what grounding checks a
        # message's content words against (nlu.grounding).
        self.vocab: list[set[str]] = []
        self.pairs: list[set[tuple[str, str]]] = []  # adjacent folded words of the same texts
        # Each item's first text as normalised (its title comes last among the texts).
        self.titles: list[Normalized | None] = []
        self.normalize = normalize
        for index, (item_id, intent, texts, keywords, *rest) in enumerate(items):
            self.ids.append(item_id)
            self.intents.append(intent)
            anchors: set[tuple[str, str]] = set()
            profile = {g: Counter() for g in GROUPS}
            vocab: set[str] = set()
            pairs: set[tuple[str, str]] = set()
            title: Normalized | None = None
            for text in texts:
                norm = normalize(text)
                if not norm:
                    continue
                vocab.update(norm.folded)
                pairs.update(zip(norm.folded, norm.folded[1:], strict=False))
                title = norm
                feats = _features(norm)
                docs.append(feats)
                doc_item.append(index)
                anchors |= _anchors(norm.folded)
                for g, counts in feats.items():
                    profile[g].update(counts)
            kws = []
            for kw in keywords:
                norm = normalize(str(kw))
                if norm:
                    kws.append(norm.folded)
                    vocab.update(norm.folded)
                    pairs.update(zip(norm.folded, norm.folded[1:], strict=False))
                    anchors |= _anchors(norm.folded)
                    for g, counts in _features(norm).items():
                        profile[g].update(counts)
            if rest and rest[0]:
                answer = normalize(rest[0])
                vocab.update(answer.folded)
                pairs.update(zip(answer.folded, answer.folded[1:], strict=False))
                if p.answer:
                    for g, counts in _features(answer).items():
                        profile[g].update(counts)
            profiles.append(profile)
            self.vocab.append(vocab)
            self.pairs.append(pairs)
            self.titles.append(title)
            self.keywords.append(kws)
            self.anchors.append(anchors)
        self.doc_item = np.array(doc_item, dtype=np.int32)
        n_items = len(self.ids)
        # Each item's profile is indexed as one more document of the item, after the texts.
        owner = np.concatenate([self.doc_item, np.arange(n_items, dtype=np.int32)])
        self.groups = {
            g: _Group([d[g] for d in (*docs, *profiles)], owner, n_items) for g in GROUPS
        }
        self._members = {
            intent: np.array([i for i, x in enumerate(self.intents) if x == intent])
            for intent in dict.fromkeys(self.intents)
        }
        self._kw_by_first: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        for item, kws in enumerate(self.keywords):
            for kw in kws:
                self._kw_by_first.setdefault(kw[0], []).append((item, kw))

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Document],
        normalize: Callable[[str], Normalized],
        params: RetrievalParams | None = None,
    ) -> Retriever:
        rows = []
        for doc in documents:
            texts = [*doc.questions, *doc.title.values()]
            rows.append((doc.id, doc.intent, texts, doc.keywords, doc.answer.get("vi", "")))
        return cls(rows, normalize, params)

    def __len__(self) -> int:
        return len(self.ids)

    def _keyword_cover(self, folded: tuple[str, ...], idf: dict[str, float]) -> np.ndarray:
        """Per item, the idf-weighted share of the message covered by its best matching keyword."""
        out = np.zeros(len(self.ids), dtype=np.float32)
        default = max(idf.values(), default=1.0)
        tok_w = [idf.get(t, default) for t in folded]
        total = sum(tok_w) or 1.0
        for i, tok in enumerate(folded):
            for item, kw in self._kw_by_first.get(tok, ()):
                if folded[i : i + len(kw)] == kw:
                    out[item] = max(out[item], sum(tok_w[i : i + len(kw)]) / total)
        return out

    def _number_factor(self, folded: tuple[str, ...]) -> np.ndarray:
        """Lift items that pair the message's word with its number; push down those pairing it with
        other numbers only ("dự án 9" against an item about "dự án 1")."""
        factor = np.ones(len(self.ids), dtype=np.float32)
        for word, num in _anchors(folded):
            for item, anchors in enumerate(self.anchors):
                if (word, num) in anchors:
                    factor[item] += self.params.number_match
                elif any(w == word for w, _ in anchors):
                    factor[item] *= self.params.number_mismatch
        return factor

    def scores(self, norm: Normalized) -> np.ndarray:
        """Per item, a score in [0, 1]."""
        n_items = len(self.ids)
        if not n_items or not norm:
            return np.zeros(n_items, dtype=np.float32)
        p = self.params
        feats = _features(norm)
        sim_all = sum(
            weight * self.groups[g].cosine(feats[g])
            for g, weight in zip(GROUPS, p.mix, strict=True)
        )
        n_docs = len(self.doc_item)
        doc_sim, prof_sim = sim_all[:n_docs], sim_all[n_docs:]
        best = np.zeros(n_items)
        np.maximum.at(best, self.doc_item, doc_sim)
        sim = (1.0 - p.profile) * best + p.profile * prof_sim
        cover = self._keyword_cover(norm.folded, self.groups["w"].idf)
        score = 1.0 - (1.0 - sim) * (1.0 - p.keyword * cover)
        score *= self._number_factor(norm.folded)
        return np.clip(score, 0.0, 1.0)

    def best_per_intent(self, scores: np.ndarray) -> dict[str, Hit]:
        """The best item of each intent for a `scores` array, where it scores above zero."""
        out: dict[str, Hit] = {}
        for intent, members in self._members.items():
            i = members[int(np.argmax(scores[members]))]
            if scores[i] > 0:
                out[intent] = Hit(self.ids[i], intent, float(scores[i]))
        return out

    def top(self, scores: np.ndarray, k: int = 5) -> list[Hit]:
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.ids[i], self.intents[i], float(scores[i])) for i in order if scores[i] > 0]

    def keyword_spans(
        self, folded: Sequence[str], item: int | None = None, min_words: int = 2
    ) -> list[tuple[int, int]]:
        """(start, end) of each whole keyword (of `min_words` words or more) of any item, or of
        item `item`, found in the message."""
        out: list[tuple[int, int]] = []
        folded = tuple(folded)
        for i, tok in enumerate(folded):
            for owner, kw in self._kw_by_first.get(tok, ()):
                if item is not None and owner != item:
                    continue
                if len(kw) >= min_words and folded[i : i + len(kw)] == kw:
                    out.append((i, i + len(kw)))
        return out

    def keyword_positions(
        self, folded: Sequence[str], item: int | None = None, min_words: int = 2
    ) -> set[int]:
        """Positions of the message inside a whole keyword (see `keyword_spans`)."""
        return {j for a, b in self.keyword_spans(folded, item, min_words) for j in range(a, b)}

    def keyword_cover(self, folded: tuple[str, ...], item: int) -> float:
        """The idf-weighted share of the message that item `item`'s best keyword covers."""
        return float(self._keyword_cover(folded, self.groups["w"].idf)[item])

    def rank(self, norm: Normalized, k: int = 5, intents: Iterable[str] | None = None) -> list[Hit]:
        """The `k` best items (optionally only of `intents`), best first, zero scores left out."""
        return self.rank_scores(self.scores(norm), k, intents)

    def rank_scores(
        self, s: np.ndarray, k: int = 5, intents: Iterable[str] | None = None
    ) -> list[Hit]:
        """`rank` over a `scores` array already computed."""
        allowed = set(intents) if intents is not None else None
        order = np.argsort(-s, kind="stable")
        out: list[Hit] = []
        for i in order:
            if s[i] <= 0:
                break
            if allowed is None or self.intents[i] in allowed:
                out.append(Hit(self.ids[i], self.intents[i], float(s[i])))
                if len(out) >= k:
                    break
        return out
