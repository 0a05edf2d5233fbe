"""Grounding: is a message about what a content item is about?

Confidence alone is not the test. A question about help buying a tractor scores well against the
housing item ("hỗ trợ", "nhà nước", "bao nhiêu" are everywhere), and the classifier is sure it
is a policy question; answering it with the housing item's 40 million would be a confident wrong
fact. So an item answers only when the thing asked for is covered by the item's own words.

- The message's *content words* are its folded tokens minus generic words and phrases
  (`nlu/tables/generic.yml`: pronouns, question words, particles, "hỗ trợ", "nhà nước", "tiền",
  "xã"...). What is left names the thing asked for: "máy cày", "tiền điện", "gạo học sinh".
- An item's *vocabulary* is every folded word of its questions, titles, keywords and answer
  (after the same normalisation: abbreviations, dialect and the training data's synonyms), so
  "nước sạch" meets "nước sinh hoạt" through the synonym.
- `coverage` is the idf-weighted share of the content words found in the vocabulary, over the
  whole message and over its last clause (a story comes before its question: "nhà em bị bão làm
  sập rồi, nhà nước có giúp làm lại không" is asked in its last clause), whichever is higher.
  Words no item knows weigh as much as the rarest word: a word the content has never seen is
  very likely the thing the content does not cover.

The tables are data, read once per file version, like the normalisation tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from nlu.normalize import TABLES_DIR, fold

GENERIC_FILE = "generic.yml"
# Credit for a word the item has, but never beside the message's neighbouring words.
UNPAIRED_CREDIT = 0.5
# Credit the first content word (of the message or of its question clause) needs.
HEAD_CREDIT = 0.5


@dataclass(frozen=True)
class Generic:
    """Words and phrases (folded) that never name the thing asked for."""

    words: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]  # longest first
    # Phrases that name a thing though their words are generic ("vệ sinh", "bảo hiểm").
    keep: tuple[tuple[str, ...], ...] = ()
    # Content words that ask about an aspect of the thing named after them ("giá heo hơi": the
    # thing is the pig, not the price), so they are never the head while a word follows.
    frames: frozenset[str] = frozenset()

    @property
    def _phrase_set(self) -> frozenset[tuple[str, ...]]:
        return frozenset(self.phrases)

    @property
    def _by_first(self) -> dict[str, list[tuple[str, ...]]]:
        index = self.__dict__.get("_index")
        if index is None:
            index = {}
            for phrase in self.phrases:
                index.setdefault(phrase[0], []).append(phrase)
            object.__setattr__(self, "_index", index)
        return index

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Generic:
        path = Path(directory or TABLES_DIR) / GENERIC_FILE
        if not path.exists():  # a tables folder without its own list uses the default one
            path = TABLES_DIR / GENERIC_FILE
        stamp = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
        if stamp not in _CACHE:
            data = {}
            if path.exists():
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected `words:` and `phrases:` lists")
            _CACHE[stamp] = cls.of(
                data.get("words") or (),
                data.get("phrases") or (),
                data.get("content") or (),
                data.get("frames") or (),
            )
        return _CACHE[stamp]

    @classmethod
    def of(
        cls,
        words: Iterable[str],
        phrases: Iterable[str] = (),
        keep: Iterable[str] = (),
        frames: Iterable[str] = (),
    ) -> Generic:
        ps = {tuple(fold(str(p)).lower().split()) for p in phrases}
        ks = {tuple(fold(str(p)).lower().split()) for p in keep}
        return cls(
            frozenset(fold(str(w)).lower() for w in words),
            tuple(sorted((p for p in ps if p), key=len, reverse=True)),
            tuple(k for k in ks if k),
            frozenset(fold(str(w)).lower() for w in frames),
        )

    def content_positions(
        self, folded: Sequence[str], keywords: Iterable[tuple[int, int]] = ()
    ) -> list[int]:
        """Positions of the content words of a folded message: generic phrases removed first,
        then generic words. The words of an item's keyword ("tảo hôn" typed "tao hon", "hồ sơ")
        are content all the same, unless the keyword is one of the generic phrases ("cán bộ")."""
        n = len(folded)
        keep: set[int] = set()
        for phrase in self.keep:
            k = len(phrase)
            for i in range(n - k + 1):
                if tuple(folded[i : i + k]) == phrase:
                    keep.update(range(i, i + k))
        for a, b in keywords:
            span = tuple(folded[a:b])
            if span not in self._phrase_set:
                keep.update(range(a, b))
        generic = [False] * n
        by_first = self._by_first
        for i, tok in enumerate(folded):
            for phrase in by_first.get(tok, ()):
                k = len(phrase)
                if tuple(folded[i : i + k]) == phrase:
                    generic[i : i + k] = [True] * k
        return [
            i
            for i, t in enumerate(folded)
            if i in keep or (not generic[i] and t not in self.words and not _small_number(t))
        ]


_CACHE: dict[tuple, Generic] = {}


def _small_number(tok: str) -> bool:
    # "1 tháng", "2 cây số": a count, not the thing asked for (a keyword's number, "dự án 4",
    # "111", is protected).
    return tok.isdigit() and len(tok) <= 2


@dataclass(frozen=True)
class Coverage:
    """How much of what a message asks for an item's words cover."""

    share: float  # 0..1, the better of the whole message and its last clause
    content: tuple[str, ...]  # the message's content words
    uncovered: tuple[str, ...]  # those the item does not cover
    head: bool = True  # the first content word (of the message or its question clause) is covered


class Grounder:
    """Coverage of a message's content words by each item's vocabulary."""

    def __init__(
        self,
        vocab: Sequence[set[str]],
        idf: Mapping[str, float],
        generic: Generic,
        *,
        protect: Callable[[Sequence[str], int | None], list[tuple[int, int]]] | None = None,
        pairs: Sequence[set[tuple[str, str]]] | None = None,
    ) -> None:
        self.vocab = vocab
        self.idf = idf
        self.default_idf = max(idf.values(), default=1.0)
        self.generic = generic
        self.protect = protect or (lambda folded, item=None: [])
        self.pairs = pairs
        self._positions: dict[tuple[str, ...], list[int]] = {}

    def weight(self, word: str) -> float:
        # A one-letter token (a stray "e", "k") says little whatever the tables missed.
        # Compressed: a word many items share ("giá", "tuổi") still names what is asked.
        w = 0.5 + 0.5 * self.idf.get(word, self.default_idf) / self.default_idf
        return w * 0.3 if len(word) < 2 else w

    def positions(self, folded: Sequence[str], item: int | None = None) -> list[int]:
        """Positions of the content words, keywords of `item` (default: of any item) kept as
        content (cached: one parse asks several times)."""
        key = (tuple(folded), item)
        hit = self._positions.get(key)
        if hit is None:
            if len(self._positions) > 512:
                self._positions.clear()
            hit = self.generic.content_positions(key[0], self.protect(key[0], item))
            self._positions[key] = hit
        return hit

    def content(self, folded: Sequence[str]) -> tuple[str, ...]:
        return tuple(folded[i] for i in self.positions(folded))

    def coverage(
        self, folded: Sequence[str], item: int, *, clause_start: int | None = None
    ) -> Coverage:
        """`item`'s coverage of the message `folded`; `clause_start`: where its question clause
        begins (`Combiner.clause_start`), None for a message of one clause."""
        # Only the item's own keywords make generic words content: "xin hỗ trợ" names the
        # how-to-apply item, not the housing one.
        positions = self.positions(folded, item)
        words = tuple(folded[i] for i in positions)
        if not words:
            # Nothing named beyond generic words ("bao nhiêu", "bạn ở đâu"): nothing an item
            # could be about (a follow-up reads such a message against the previous answer).
            return Coverage(0.0, (), (), False)
        vocab = self.vocab[item]
        pairs = self.pairs[item] if self.pairs is not None else None
        covered: list[float] = []
        content = set(positions)
        for i, w in zip(positions, words, strict=True):
            if not (w in vocab or _number_in(w, vocab)):
                covered.append(0.0)
            elif pairs is None or len(folded) == 1 or _paired(folded, i, pairs, content):
                covered.append(1.0)
            else:
                # The word is the item's, but not beside the words it has there: "phân bón"
                # typed "phan bon" shares both words with "bồn nước phân tán", not the thing.
                covered.append(UNPAIRED_CREDIT)
        weights = [self.weight(w) for w in words]
        whole = _share(covered, weights)
        tail = [j for j, p in enumerate(positions) if p >= clause_start] if clause_start else []
        last = _share([covered[j] for j in tail], [weights[j] for j in tail]) if tail else 0.0
        # The question clause counts only when the message is longer than it.
        share = max(whole, last) if tail and len(tail) < len(words) else whole
        # The head: the first word naming something, in the message or in its question clause,
        # is what is asked for ("người già trên 80 tuổi", "mua điện thoại"): the item must have
        # it, beside the same neighbours. A frame word ("giá heo hơi ở Ba Tơ": the price of
        # what) passes the head to the word after it.
        heads = {self._head(words, range(len(words)))}
        if tail:
            heads.add(self._head(words, tail))
        head = any(covered[j] >= HEAD_CREDIT for j in heads)
        return Coverage(
            round(share, 4),
            words,
            tuple(w for w, c in zip(words, covered, strict=True) if c < 1.0),
            head,
        )

    def _head(self, words: Sequence[str], span: Iterable[int]) -> int:
        """The first position of `span` (indexes into `words`) that is not a frame word, or the
        span's first when all are."""
        span = list(span)
        frames = self.generic.frames
        return next((j for j in span if words[j] not in frames), span[0])


def _number_in(word: str, vocab: set[str]) -> bool:
    # "936000" typed for "936.000": numbers are compared without separators.
    return word[:1].isdigit() and word.replace(".", "") in vocab


def _paired(folded: Sequence[str], i: int, pairs: set[tuple[str, str]], content: set[int]) -> bool:
    """Whether the word at `i` stands beside one of its neighbours in the item's texts too: a
    neighbouring content word when it has one ("mua phân bón": "mua" beside "phân"), else
    any neighbour ("tiền mua")."""
    near = [j for j in (i - 1, i + 1) if 0 <= j < len(folded)]
    if any(j in content for j in near):
        near = [j for j in near if j in content]
    return any(
        (folded[j], folded[i]) in pairs if j < i else (folded[i], folded[j]) in pairs for j in near
    )


def _share(covered: Sequence[float], weights: Sequence[float]) -> float:
    total = sum(weights)
    if total <= 0:
        return 0.0
    return sum(w * c for w, c in zip(weights, covered, strict=True)) / total


def idf_table(vocab: Sequence[set[str]]) -> dict[str, float]:
    """Inverse item frequency of each word over the items' vocabularies."""
    n = len(vocab)
    df: dict[str, int] = {}
    for v in vocab:
        for w in v:
            df[w] = df.get(w, 0) + 1
    return {w: math.log((n + 1) / (c + 0.5)) for w, c in df.items()}
